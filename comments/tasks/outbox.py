"""Delivering webhooks from the outbox: a thread in each web process (``WEBHOOK_DELIVERY=
inprocess``, the default) and in every ``flask comments worker``. Deliveries live in the
database, so any of them may deliver any delivery, and a restart loses nothing."""

from __future__ import annotations

import logging

from flask import Flask

from comments.extensions import db
from comments.services.webhooks import DeliveryRun, deliver_due
from comments.tasks.background import BackgroundThread, start_with_first_request

log = logging.getLogger(__name__)

WEBHOOK_DELIVERY_MODES = ("inprocess", "worker")


def drain(app: Flask, max_rounds: int = 50):
    """Deliver everything due now (in rounds of 20), then return what was done."""
    total = DeliveryRun()
    with app.app_context():
        try:
            for _ in range(max_rounds):
                run = deliver_due(limit=20)
                total.delivered += run.delivered
                total.retrying += run.retrying
                total.failed += run.failed
                total.ids.extend(run.ids)
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
        raise ValueError(f"COMMENTS_WEBHOOK_DELIVERY must be one of {', '.join(WEBHOOK_DELIVERY_MODES)}, "
                         f"not {mode!r}")
    if mode != "inprocess":
        return
    app.extensions["comments.outbox"] = OutboxWorker(app)
    start_with_first_request(app, "comments.outbox")
