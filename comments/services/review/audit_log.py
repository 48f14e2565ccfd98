"""Reading the audit log (``services.audit`` is its one writer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from comments.extensions import db
from comments.models import AuditEvent, Moderator
from comments.services import paging
from comments.services.readers import AUTHOR_STATUS_CHANGED
from comments.services.review.access import Reviewer, visible_site_ids
from comments.services.threads import rfc3339


@dataclass(frozen=True)
class AuditActor:
    type: str
    id: str | None  # a moderator by email; a host key, a reader or the classifier by its id


@dataclass(frozen=True)
class AuditEntry:
    """One event of the log as reviewers read it: the API's ``AuditEventSchema`` dumps it and the
    dashboard's comment page lists it."""

    id: int
    comment_id: int | None
    action: str
    actor: AuditActor
    from_status: str | None
    to_status: str | None
    reasons: list[dict[str, Any]]
    at: str | None


def audit_events(
    reviewer: Reviewer,
    *,
    comment_id: int | None = None,
    site_slug: str | None = None,
    author_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[AuditEntry], str | None]:
    """The events on the reviewer's sites, newest first, and the cursor of the next page."""
    query = select(AuditEvent)
    site_ids = visible_site_ids(reviewer, site_slug)
    if site_ids is not None:
        query = query.where(AuditEvent.site_id.in_(site_ids))
    if comment_id is not None:
        query = query.where(AuditEvent.comment_id == comment_id)
    if author_id is not None:
        # An author's status changes: ``readers.set_status`` writes their id in the first reason
        # (no column holds it, so this reads the site's log rather than an index; a rare query).
        query = query.where(
            AuditEvent.action == AUTHOR_STATUS_CHANGED,
            AuditEvent.reasons[(0, "author_id")].as_string() == str(author_id),
        )
    events, next_cursor = paging.newest_by_id(query, AuditEvent.id, "audit", limit, cursor)
    moderators = {str(m.id): m.email for m in db.session.execute(select(Moderator)).scalars()}
    return [
        AuditEntry(
            id=e.id,
            comment_id=e.comment_id,
            action=e.action,
            actor=AuditActor(
                e.actor_type,
                moderators.get(e.actor_id or "", e.actor_id) if e.actor_type == "moderator" else e.actor_id,
            ),
            from_status=e.from_status,
            to_status=e.to_status,
            reasons=e.reasons,
            at=rfc3339(e.created_at),
        )
        for e in events
    ], next_cursor
