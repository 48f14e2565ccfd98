"""Webhooks: hosts register URLs for events; deliveries go through a durable outbox.

``emit`` writes one ``WebhookDelivery`` row per subscribed webhook in the caller's transaction,
so an event is stored exactly when the change it reports is. Workers (``deliver_due``: the web
process's delivery thread, ``flask comments worker``) claim due rows, POST them signed, and
retry failures with exponential backoff and jitter until ``WEBHOOK_MAX_ATTEMPTS``.

Signature: ``X-Comments-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-Comments-Timestamp: <unix seconds>``; receivers recompute it and refuse old timestamps. For a
day after a secret is rotated the header carries two signatures, comma-separated (new, old).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import bindparam, delete, func, select, update

from comments import metrics
from comments.extensions import db
from comments.models import (WEBHOOK_EVENTS, Comment, DeliveryStatus, Site, Status, Webhook, WebhookDelivery,
                             WebhookEvent, utcnow)
from comments.services import paging, safehttp
from comments.services.audit import Actor, record
from comments.services.errors import NotFound, invalid_field
from comments.services.hostjson import EXPORTED_COMMENT
from comments.services.threads import rfc3339

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Comments-Signature"
TIMESTAMP_HEADER = "X-Comments-Timestamp"
MAX_WEBHOOKS_PER_SITE = 20
MAX_BACKOFF_SECONDS = 6 * 3600
PENDING, DELIVERED, FAILED = DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value


# --- signing ----------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes,
           tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does (and the README shows): recompute, compare in constant time with each
    signature sent, and refuse timestamps too far from now so a captured delivery cannot be
    replayed later."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate.strip())
               for candidate in (signature_header or "").split(","))


ROTATION_OVERLAP = timedelta(hours=24)


def signature_header(webhook: Webhook, timestamp: int, body: bytes) -> str:
    signatures = [sign(webhook.secret, timestamp, body)]
    if webhook.previous_secret and webhook.previous_secret_until and webhook.previous_secret_until > utcnow():
        signatures.append(sign(webhook.previous_secret, timestamp, body))
    return ",".join(signatures)


# --- registration -----------------------------------------------------------------------------

def _allow_private() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def vet_url(url: str) -> str:
    """Refuse URLs we would not deliver to: checked here, and again at every connection."""
    try:
        _scheme, host, port, _path = safehttp.check_url(url)
        safehttp.resolve(host, port, _allow_private())
    except safehttp.AddressNotAllowed as exc:
        raise invalid_field("url", "webhook_url_not_allowed", f"This URL is not allowed: {exc}.") from None
    except safehttp.Unresolvable as exc:
        raise invalid_field("url", "webhook_url_unresolvable", f"This URL's host does not resolve: {exc}.") from None
    return url.strip()


def _events(events: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    if not chosen or any(e not in WEBHOOK_EVENTS for e in chosen):
        raise invalid_field("events", "invalid_event", f"Events are some of: {', '.join(WEBHOOK_EVENTS)}.")
    return chosen


def list_webhooks(site: Site) -> list[Webhook]:
    return list(db.session.execute(select(Webhook).where(Webhook.site_id == site.id).order_by(Webhook.id)).scalars())


def get_webhook(site: Site, webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or webhook.site_id != site.id:
        raise NotFound("webhook_not_found", "No such webhook for this site.")
    return webhook


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def rotate_secret(site: Site, webhook_id: int, actor: Actor) -> tuple[Webhook, str]:
    """A new signing secret; the old one keeps signing too for ``ROTATION_OVERLAP``."""
    webhook = get_webhook(site, webhook_id)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = utcnow() + ROTATION_OVERLAP
    secret = _new_secret()
    webhook.secret = secret
    record("webhook_secret_rotated", actor, site_id=site.id,
           reasons=[{"kind": "webhook", "webhook_id": webhook.id, "old_valid_until": rfc3339(webhook.previous_secret_until)}])
    db.session.commit()
    return webhook, secret


def create_webhook(site: Site, url: str, events: list[str], description: str, actor: Actor) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (shown to the host once)."""
    if len(list_webhooks(site)) >= MAX_WEBHOOKS_PER_SITE:
        raise invalid_field("url", "too_many_webhooks", f"A site has at most {MAX_WEBHOOKS_PER_SITE} webhooks.")
    secret = _new_secret()
    webhook = Webhook(site_id=site.id, url=vet_url(url), events=_events(events), secret=secret,
                      description=description, active=True)
    db.session.add(webhook)
    db.session.flush()
    record("webhook_created", actor, site_id=site.id,
           reasons=[{"kind": "webhook", "webhook_id": webhook.id, "url": webhook.url, "events": webhook.events}])
    db.session.commit()
    return webhook, secret


def change_webhook(site: Site, webhook_id: int, changes: dict[str, Any], actor: Actor) -> Webhook:
    webhook = get_webhook(site, webhook_id)
    before = webhook_json(webhook)
    if "url" in changes:
        webhook.url = vet_url(changes["url"])
    if "events" in changes:
        webhook.events = _events(changes["events"])
    if "description" in changes:
        webhook.description = changes["description"]
    if "active" in changes:
        webhook.active = bool(changes["active"])
    after = webhook_json(webhook)
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if changed:
        record("webhook_changed", actor, site_id=site.id,
               reasons=[{"kind": "webhook", "webhook_id": webhook.id, "changes": changed}])
    db.session.commit()
    return webhook


def delete_webhook(site: Site, webhook_id: int, actor: Actor) -> None:
    webhook = get_webhook(site, webhook_id)
    record("webhook_deleted", actor, site_id=site.id,
           reasons=[{"kind": "webhook", "webhook_id": webhook.id, "url": webhook.url}])
    db.session.delete(webhook)  # its deliveries go with it (ON DELETE CASCADE)
    db.session.commit()


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {"id": webhook.id, "url": webhook.url, "events": list(webhook.events or []),
            "description": webhook.description, "active": webhook.active,
            "created_at": rfc3339(webhook.created_at), "secret_prefix": webhook.secret[:10],
            "previous_secret_valid_until": (rfc3339(webhook.previous_secret_until)
                                            if webhook.previous_secret_until and webhook.previous_secret_until > utcnow()
                                            else None)}


# --- the outbox -------------------------------------------------------------------------------

def _payload(site_slug: str, event: str, data: dict[str, Any]) -> str:
    return orjson.dumps({"id": uuid.uuid4().hex, "event": event, "site": site_slug,
                         "created_at": rfc3339(utcnow()), "data": data}).decode()


def _enqueue(webhook_id: int, event: str, body: str, comment_id: int | None = None) -> WebhookDelivery:
    delivery = WebhookDelivery(webhook_id=webhook_id, event=event, body=body, status=PENDING, comment_id=comment_id,
                               attempts=0, next_attempt_at=utcnow(), attempt_log=[])
    db.session.add(delivery)
    return delivery


# Built once and reading two columns: this runs on every status change, posting included.
_LISTENERS = select(Webhook.id, Webhook.events).where(Webhook.site_id == bindparam("site_id"),
                                                      Webhook.active.is_(True))
_ALL_LISTENERS = select(Webhook.site_id, Webhook.id, Webhook.events).where(
    Webhook.site_id.in_(bindparam("site_ids", expanding=True)), Webhook.active.is_(True))
_SITE_SLUG = select(Site.slug).where(Site.id == bindparam("site_id"))


def emit(site_id: int, event: str, data_factory, comment_id: int | None = None,
         subscriptions: list[tuple[int, list[str]]] | None = None) -> int:
    """Store ``event`` for every active webhook of the site subscribed to it; in the caller's
    transaction. ``data_factory`` builds the payload only when someone listens.
    ``subscriptions`` are the site's active webhooks when the caller has read them already."""
    if subscriptions is None:
        subscriptions = [(row.id, row.events) for row in db.session.execute(_LISTENERS, {"site_id": site_id})]
    listeners = [webhook_id for webhook_id, events in subscriptions if event in (events or [])]
    if not listeners:
        return 0
    slug = db.session.execute(_SITE_SLUG, {"site_id": site_id}).scalar_one()
    body = _payload(slug, event, data_factory())
    for webhook_id in listeners:
        _enqueue(webhook_id, event, body, comment_id)
    return len(listeners)


def forget_comments(comment_ids: list[int]) -> int:
    """Drop every delivery about these comments, queued or logged (an author's erasure)."""
    if not comment_ids:
        return 0
    return db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.comment_id.in_(comment_ids))
                              .execution_options(synchronize_session=False)).rowcount


def comment_data(comment: Comment, **extra: Any) -> dict[str, Any]:
    thread = comment.thread
    return {"comment": EXPORTED_COMMENT.dump(comment),
            "thread": {"key": thread.key, "title": thread.title, "url": thread.url}, **extra}


STATUS_EVENTS = {Status.PUBLISHED: WebhookEvent.PUBLISHED.value, Status.HELD: WebhookEvent.HELD.value,
                 Status.REJECTED: WebhookEvent.REJECTED.value}


def _status_event(old_status: str, new_status: str, action: str) -> str | None:
    """The event a status move is, if it is news for the host."""
    event = STATUS_EVENTS.get(new_status)
    if event is None or (old_status == new_status and action != "edited"):
        return None
    if action == "imported":
        return None  # a bulk backfill of old comments, not news for the host
    return event


def emit_status(comment: Comment, old_status: str, new_status: str, action: str) -> None:
    """Called by ``services.moderation``, the one place statuses move."""
    emit_statuses([(comment, old_status, new_status)], action)


def emit_statuses(moved: list[tuple[Comment, str, str]], action: str) -> None:
    """``emit_status`` for a batch of (comment, old status, new status): each site's webhooks
    are read once, and only for sites with something to tell."""
    events = [(comment, old, _status_event(old, new, action)) for comment, old, new in moved]
    site_ids = sorted({comment.site_id for comment, _, event in events if event is not None})
    if not site_ids:
        return
    subscriptions: dict[int, list[tuple[int, list[str]]]] = {site_id: [] for site_id in site_ids}
    for row in db.session.execute(_ALL_LISTENERS, {"site_ids": site_ids}):
        subscriptions[row.site_id].append((row.id, row.events))
    for comment, old, event in events:
        if event is not None:
            emit(comment.site_id, event,
                 lambda comment=comment, old=old: comment_data(comment, action=action, from_status=old),
                 comment_id=comment.id, subscriptions=subscriptions[comment.site_id])


def ping(site: Site, webhook_id: int) -> WebhookDelivery:
    """A test delivery to one webhook, whatever it subscribes to."""
    webhook = get_webhook(site, webhook_id)
    delivery = _enqueue(webhook.id, "ping", _payload(site.slug, "ping", {"webhook_id": webhook.id}))
    db.session.commit()
    return delivery


def retry(site: Site, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    """Try a failed delivery again, now, with a fresh set of attempts (its log is kept)."""
    webhook = get_webhook(site, webhook_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise NotFound("delivery_not_found", "No such delivery for this webhook.")
    if delivery.status != DELIVERED:
        delivery.status = PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        db.session.commit()
    return delivery


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"id": delivery.id, "event": delivery.event, "status": delivery.status,
            "attempts": delivery.attempts,
            "next_attempt_at": rfc3339(delivery.next_attempt_at) if delivery.status == PENDING else None,
            "last_attempt_at": rfc3339(delivery.last_attempt_at), "response_status": delivery.response_status,
            "last_error": delivery.last_error, "attempt_log": delivery.attempt_log or [],
            "created_at": rfc3339(delivery.created_at), "delivered_at": rfc3339(delivery.delivered_at),
            "payload": orjson.loads(delivery.body)}


def deliveries_page(site: Site, webhook_id: int, *, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The delivery log, newest first."""
    webhook = get_webhook(site, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        (before_id,) = paging.decode_cursor("deliveries", cursor, (paging.ID,))
        query = query.where(WebhookDelivery.id < before_id)
    rows = list(db.session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)).scalars())
    next_cursor = paging.encode_cursor("deliveries", [rows[limit - 1].id]) if len(rows) > limit else None
    return [delivery_json(d) for d in rows[:limit]], next_cursor


# --- delivering -------------------------------------------------------------------------------

@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)


def backoff_seconds(attempts: int, base: float) -> float:
    """Exponential, capped, with jitter so that many failed deliveries do not retry in lockstep."""
    capped = min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return capped * (0.5 + random.random() / 2)


def _claim(delivery_id: int, lease_seconds: float) -> bool:
    """Take a due delivery for this worker: only one of several racing workers moves it."""
    now = utcnow()
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == PENDING,
               WebhookDelivery.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=lease_seconds)))
    db.session.commit()
    return result.rowcount == 1


def outbox_figures() -> tuple[int, float]:
    """Deliveries waiting, and the age in seconds of the oldest (for /metrics)."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(WebhookDelivery.created_at)).where(WebhookDelivery.status == PENDING)).one()
    if isinstance(oldest, str):  # SQLite returns aggregates of the type decorator's column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), (utcnow() - oldest).total_seconds() if oldest is not None else 0.0


def deliver_due(limit: int = 20) -> DeliveryRun:
    """Attempt up to ``limit`` due deliveries; each outcome is committed on its own."""
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    run = DeliveryRun()
    due = list(db.session.execute(
        select(WebhookDelivery.id).where(WebhookDelivery.status == PENDING,
                                         WebhookDelivery.next_attempt_at <= utcnow())
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)).scalars())
    for delivery_id in due:
        # A lease longer than an attempt can take: a worker killed mid-attempt only delays it.
        if not _claim(delivery_id, lease_seconds=timeout * 3 + 30):
            continue
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            continue
        _attempt(delivery, timeout, int(config["WEBHOOK_MAX_ATTEMPTS"]),
                 float(config["WEBHOOK_RETRY_BASE_SECONDS"]))
        db.session.commit()
        run.ids.append(delivery_id)
        if delivery.status == DELIVERED:
            run.delivered += 1
        elif delivery.status == FAILED:
            run.failed += 1
        else:
            run.retrying += 1
        metrics.WEBHOOK_ATTEMPTS.labels("retrying" if delivery.status == PENDING else delivery.status).inc()
    return run


def _attempt(delivery: WebhookDelivery, timeout: float, max_attempts: int, base_delay: float) -> None:
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
            "Content-Type": "application/json", "User-Agent": "comments-webhooks/1",
            "X-Comments-Event": delivery.event, "X-Comments-Delivery": str(delivery.id),
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature_header(webhook, timestamp, body),
        }
        try:
            answer = safehttp.post(webhook.url, body, headers, timeout=timeout, allow_private=_allow_private())
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
    delivery.attempt_log = [*(delivery.attempt_log or []), log_entry][-20:]
    if error is None:
        delivery.status = DELIVERED
        delivery.delivered_at = utcnow()
        delivery.next_attempt_at = None
    elif delivery.attempts >= max_attempts or not webhook.active:
        delivery.status = FAILED
        delivery.next_attempt_at = None
        log.warning("webhook delivery %s to %s given up after %d attempts: %s",
                    delivery.id, webhook.url, delivery.attempts, error)
    else:
        delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff_seconds(delivery.attempts, base_delay))

