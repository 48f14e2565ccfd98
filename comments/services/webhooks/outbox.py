"""The outbox: events stored as deliveries in the unit of work of the change they report, and the
delivery log hosts read. Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, func, select

from comments.extensions import db
from comments.models import Comment, DeliveryStatus, Site, Status, Webhook, WebhookDelivery, WebhookEvent, utcnow
from comments.services import paging
from comments.services.errors import NotFound
from comments.services.hostjson import EXPORTED_COMMENT
from comments.services.statements import rows_changed
from comments.services.threads import rfc3339
from comments.services.webhooks.registration import get_webhook

PENDING, DELIVERED, FAILED = DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value


def _payload(site_slug: str, event: str, data: dict[str, Any]) -> str:
    return orjson.dumps(
        {"id": uuid.uuid4().hex, "event": event, "site": site_slug, "created_at": rfc3339(utcnow()), "data": data}
    ).decode()


def _enqueue(webhook_id: int, event: str, body: str, comment_id: int | None = None) -> WebhookDelivery:
    delivery = WebhookDelivery(
        webhook_id=webhook_id,
        event=event,
        body=body,
        status=PENDING,
        comment_id=comment_id,
        attempts=0,
        next_attempt_at=utcnow(),
        attempt_log=[],
    )
    db.session.add(delivery)
    return delivery


# Built once and reading two columns: this runs on every status change, posting included.
_LISTENERS = select(Webhook.id, Webhook.events).where(Webhook.site_id == bindparam("site_id"), Webhook.active.is_(True))
_ALL_LISTENERS = select(Webhook.site_id, Webhook.id, Webhook.events).where(
    Webhook.site_id.in_(bindparam("site_ids", expanding=True)), Webhook.active.is_(True)
)
_SITE_SLUG = select(Site.slug).where(Site.id == bindparam("site_id"))


def emit(
    site_id: int,
    event: str,
    data_factory: Callable[[], dict[str, Any]],
    comment_id: int | None = None,
    subscriptions: list[tuple[int, list[str]]] | None = None,
) -> int:
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
    return rows_changed(
        delete(WebhookDelivery)
        .where(WebhookDelivery.comment_id.in_(comment_ids))
        .execution_options(synchronize_session=False)
    )


def comment_data(comment: Comment, **extra: Any) -> dict[str, Any]:
    thread = comment.thread
    return {
        "comment": EXPORTED_COMMENT.dump(comment),
        "thread": {"key": thread.key, "title": thread.title, "url": thread.url},
        **extra,
    }


STATUS_EVENTS: dict[str, str] = {
    Status.PUBLISHED: WebhookEvent.PUBLISHED.value,
    Status.HELD: WebhookEvent.HELD.value,
    Status.REJECTED: WebhookEvent.REJECTED.value,
}


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
            emit(
                comment.site_id,
                event,
                partial(comment_data, comment, action=action, from_status=old),
                comment_id=comment.id,
                subscriptions=subscriptions[comment.site_id],
            )


def ping(site: Site, webhook_id: int) -> WebhookDelivery:
    """A test delivery to one webhook, whatever it subscribes to."""
    webhook = get_webhook(site, webhook_id)
    delivery = _enqueue(webhook.id, "ping", _payload(site.slug, "ping", {"webhook_id": webhook.id}))
    db.session.flush()  # its id and dates, for the answer
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
    return delivery


# --- the delivery log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    """A delivery and its attempts as hosts see them: the API's ``DeliverySchema`` dumps it."""

    id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    response_status: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    created_at: str | None
    delivered_at: str | None
    payload: dict[str, Any]


def delivery_view(delivery: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event=delivery.event,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=rfc3339(delivery.next_attempt_at) if delivery.status == PENDING else None,
        last_attempt_at=rfc3339(delivery.last_attempt_at),
        response_status=delivery.response_status,
        last_error=delivery.last_error,
        attempt_log=delivery.attempt_log or [],
        created_at=rfc3339(delivery.created_at),
        delivered_at=rfc3339(delivery.delivered_at),
        payload=orjson.loads(delivery.body),
    )


def deliveries_page(
    site: Site, webhook_id: int, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[DeliveryView], str | None]:
    """The delivery log, newest first."""
    webhook = get_webhook(site, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows, next_cursor = paging.newest_by_id(query, WebhookDelivery.id, "deliveries", limit, cursor)
    return [delivery_view(d) for d in rows], next_cursor


def outbox_figures() -> tuple[int, float]:
    """Deliveries waiting, and the age in seconds of the oldest (for /metrics)."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(WebhookDelivery.created_at)).where(WebhookDelivery.status == PENDING)
    ).one()
    if isinstance(oldest, str):  # SQLite returns aggregates of the type decorator's column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
