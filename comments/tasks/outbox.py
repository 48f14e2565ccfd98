"""Delivering webhooks from the outbox: a thread in each web process (``WEBHOOK_DELIVERY=
inprocess``, the default) and in every ``flask comments worker``. Deliveries live in the
database, so any of them may deliver any delivery, and a restart loses nothing."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from comments import metrics, transaction
from comments.extensions import db
from comments.models import WebhookDelivery
from comments.services.webhooks import delivery
from comments.services.webhooks.delivery import DeliveryRun
from comments.services.webhooks.outbox import PENDING
from comments.tasks.background import BackgroundThread, start_with_first_request

log = logging.getLogger(__name__)

WEBHOOK_DELIVERY_MODES = ("inprocess", "worker")


def deliver_due(limit: int = 20) -> DeliveryRun:
    """Attempt up to ``limit`` due deliveries. Each claim and each outcome is committed on its own:
    a claim must be seen by the other workers before the attempt, and one receiver's outcome
    must not wait for (or be lost with) the next receiver's."""
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    base_delay = float(config["WEBHOOK_RETRY_BASE_SECONDS"])
    run = DeliveryRun()
    for delivery_id in delivery.due_ids(limit):
        # A lease longer than an attempt can take: a worker killed mid-attempt only delays it.
        claimed = delivery.claim(delivery_id, lease_seconds=timeout * 3 + 30)
        transaction.commit()  # the claim
        if not claimed:
            continue
        row = db.session.get(WebhookDelivery, delivery_id)
        if row is None:
            continue
        delivery.attempt(row, timeout, max_attempts, base_delay)
        transaction.commit()  # this delivery's outcome
        run.count(row)
        metrics.WEBHOOK_ATTEMPTS.labels("retrying" if row.status == PENDING else row.status).inc()
    return run


def drain(app: Flask, max_rounds: int = 50) -> DeliveryRun:
    """Deliver everything due now (in rounds of 20), then return what was done."""
    total = DeliveryRun()
    with app.app_context():
        try:
            for _ in range(max_rounds):
                run = deliver_due(limit=20)
                total.add(run)
                if len(run.ids) < 20:
                    break
        finally:
            db.session.remove()
    return total


class OutboxWorker(BackgroundThread):
    thread_name = "comments-webhooks"

    def __init__(self, app: Flask):
        super().__init__()
        self.app = app
        self.poll_seconds = float(app.config["WEBHOOK_POLL_SECONDS"])

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                drain(self.app)
                failures = 0
            except Exception:  # a database outage must not end deliveries; the rows wait
                failures += 1
                if failures == 1:
                    log.exception("webhook delivery round failed; retrying")
                else:
                    log.warning("webhook delivery still failing (%d rounds)", failures)
            # After failures (database down, not migrated yet), wait longer, up to a minute.
            self._stop.wait(min(self.poll_seconds * 2 ** min(failures, 10), 60.0) if failures else self.poll_seconds)


def init_webhooks(app: Flask) -> None:
    mode = app.config["WEBHOOK_DELIVERY"]
    if mode not in WEBHOOK_DELIVERY_MODES:
        raise ValueError(f"COMMENTS_WEBHOOK_DELIVERY must be one of {', '.join(WEBHOOK_DELIVERY_MODES)}, not {mode!r}")
    if mode != "inprocess":
        return
    app.extensions["comments.outbox"] = OutboxWorker(app)
    start_with_first_request(app, "comments.outbox")
