"""A site's webhooks: registering, changing, pausing, deleting, rotating their secrets.

Nothing here commits: the request that changes a webhook owns the unit of work.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from comments.extensions import db
from comments.models import WEBHOOK_EVENTS, Site, Webhook, utcnow
from comments.services import safehttp
from comments.services.audit import Actor, record
from comments.services.errors import NotFound, invalid_field
from comments.services.threads import rfc3339
from comments.services.webhooks.signing import ROTATION_OVERLAP

MAX_WEBHOOKS_PER_SITE = 20


def allow_private() -> bool:
    """Whether webhooks may point at private addresses (tests, a closed network)."""
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


@dataclass(frozen=True)
class WebhookView:
    """A webhook as hosts see it (never its secret, only the secret's first characters): the API's
    ``WebhookSchema`` dumps it."""

    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: str | None
    secret_prefix: str
    previous_secret_valid_until: str | None  # while deliveries are also signed with the old secret


def webhook_view(webhook: Webhook) -> WebhookView:
    overlapping = webhook.previous_secret_until is not None and webhook.previous_secret_until > utcnow()
    return WebhookView(
        id=webhook.id,
        url=webhook.url,
        events=list(webhook.events or []),
        description=webhook.description,
        active=webhook.active,
        created_at=rfc3339(webhook.created_at),
        secret_prefix=webhook.secret[:10],
        previous_secret_valid_until=rfc3339(webhook.previous_secret_until) if overlapping else None,
    )


def vet_url(url: str) -> str:
    """Refuse URLs we would not deliver to: checked here, and again at every connection."""
    try:
        _scheme, host, port, _path = safehttp.check_url(url)
        safehttp.resolve(host, port, allow_private())
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
    record(
        "webhook_secret_rotated",
        actor,
        site_id=site.id,
        reasons=[
            {"kind": "webhook", "webhook_id": webhook.id, "old_valid_until": rfc3339(webhook.previous_secret_until)}
        ],
    )
    return webhook, secret


def create_webhook(site: Site, url: str, events: list[str], description: str, actor: Actor) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (shown to the host once)."""
    if len(list_webhooks(site)) >= MAX_WEBHOOKS_PER_SITE:
        raise invalid_field("url", "too_many_webhooks", f"A site has at most {MAX_WEBHOOKS_PER_SITE} webhooks.")
    secret = _new_secret()
    webhook = Webhook(
        site_id=site.id, url=vet_url(url), events=_events(events), secret=secret, description=description, active=True
    )
    db.session.add(webhook)
    db.session.flush()
    record(
        "webhook_created",
        actor,
        site_id=site.id,
        reasons=[{"kind": "webhook", "webhook_id": webhook.id, "url": webhook.url, "events": webhook.events}],
    )
    return webhook, secret


def change_webhook(site: Site, webhook_id: int, changes: dict[str, Any], actor: Actor) -> Webhook:
    webhook = get_webhook(site, webhook_id)
    before = dataclasses.asdict(webhook_view(webhook))
    if "url" in changes:
        webhook.url = vet_url(changes["url"])
    if "events" in changes:
        webhook.events = _events(changes["events"])
    if "description" in changes:
        webhook.description = changes["description"]
    if "active" in changes:
        webhook.active = bool(changes["active"])
    after = dataclasses.asdict(webhook_view(webhook))
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if changed:
        record(
            "webhook_changed",
            actor,
            site_id=site.id,
            reasons=[{"kind": "webhook", "webhook_id": webhook.id, "changes": changed}],
        )
    return webhook


def delete_webhook(site: Site, webhook_id: int, actor: Actor) -> None:
    webhook = get_webhook(site, webhook_id)
    record(
        "webhook_deleted",
        actor,
        site_id=site.id,
        reasons=[{"kind": "webhook", "webhook_id": webhook.id, "url": webhook.url}],
    )
    db.session.delete(webhook)  # its deliveries go with it (ON DELETE CASCADE)
