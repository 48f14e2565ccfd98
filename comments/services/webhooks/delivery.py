"""Delivering one outbox row: claiming it, posting it signed, and scheduling the retry.

These change rows and never commit: the job's loop (``tasks.outbox.deliver_due``) commits each
claim and each outcome on its own.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from comments.extensions import db
from comments.models import WebhookDelivery, utcnow
from comments.services import safehttp
from comments.services.statements import rows_changed
from comments.services.threads import rfc3339
from comments.services.webhooks.outbox import DELIVERED, FAILED, PENDING
from comments.services.webhooks.registration import allow_private
from comments.services.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 6 * 3600
ATTEMPT_LOG_LENGTH = 20  # the newest attempts kept on a delivery


@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)

    def count(self, delivery: WebhookDelivery) -> None:
        self.ids.append(delivery.id)
        if delivery.status == DELIVERED:
            self.delivered += 1
        elif delivery.status == FAILED:
            self.failed += 1
        else:
            self.retrying += 1

    def add(self, other: DeliveryRun) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.failed += other.failed
        self.ids.extend(other.ids)


def backoff_seconds(attempts: int, base: float, rng: random.Random | None = None) -> float:
    """Exponential, capped, with jitter so that many failed deliveries do not retry in lockstep:
    between half and all of ``base * 2 ** (attempts - 1)``, at most ``MAX_BACKOFF_SECONDS``."""
    capped: float = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return capped * (0.5 + (rng or random).random() / 2)


def due_ids(limit: int) -> list[int]:
    """The deliveries due now, the longest waiting first."""
    return list(
        db.session.execute(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= utcnow())
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        ).scalars()
    )


def claim(delivery_id: int, lease_seconds: float) -> bool:
    """Take a due delivery for this worker: only one of several racing workers moves it (the
    lease holds once the caller commits)."""
    now = utcnow()
    claimed = rows_changed(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
    )
    return claimed == 1


def attempt(delivery: WebhookDelivery, timeout: float, max_attempts: int, base_delay: float) -> None:
    """POST the delivery once and record the outcome on it: delivered, retried later, or failed."""
    webhook = delivery.webhook
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    status_code: int | None = None
    error: str | None = None
    started = time.perf_counter()
    if not webhook.active:
        error = "the webhook is deactivated"
    else:
        timestamp = int(time.time())
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "comments-webhooks/1",
            "X-Comments-Event": delivery.event,
            "X-Comments-Delivery": str(delivery.id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(webhook, timestamp, body),
        }
        try:
            answer = safehttp.post(webhook.url, body, headers, timeout=timeout, allow_private=allow_private())
            status_code = answer.status
            if not 200 <= answer.status < 300:
                error = f"the receiver answered {answer.status}"
        except safehttp.AddressNotAllowed as exc:
            error = f"refused: {exc}"
        except safehttp.Unresolvable as exc:
            error = str(exc)
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        except Exception as exc:  # anything else about this one URL must not stop the others
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            error = f"{type(exc).__name__}: {exc}"[:300]
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    delivery.response_status = status_code
    delivery.last_error = error
    log_entry = {"at": rfc3339(now), "status": status_code, "error": error, "ms": elapsed_ms}
    delivery.attempt_log = [*(delivery.attempt_log or []), log_entry][-ATTEMPT_LOG_LENGTH:]
    if error is None:
        delivery.status = DELIVERED
        delivery.delivered_at = utcnow()
        delivery.next_attempt_at = None
    elif delivery.attempts >= max_attempts or not webhook.active:
        delivery.status = FAILED
        delivery.next_attempt_at = None
        log.warning(
            "webhook delivery %s to %s given up after %d attempts: %s",
            delivery.id,
            webhook.url,
            delivery.attempts,
            error,
        )
    else:
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts, base_delay))
