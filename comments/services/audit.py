"""The one place that writes the audit log (and, in the same transaction, the figures kept from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from comments.extensions import db
from comments.models import AuditEvent, Comment, utcnow
from comments.services import figures
from comments.services.calibration import evidence


@dataclass(frozen=True)
class Actor:
    """Who or what made a change."""

    type: str  # system, author, reader, moderator, host, operator
    id: str | None = None


SYSTEM = Actor("system", "pipeline")


def _fields(
    action: str,
    actor: Actor,
    comment: Comment | None = None,
    site_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reasons: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "site_id": comment.site_id if comment is not None else site_id,
        "comment_id": comment.id if comment is not None else None,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "reasons": list(reasons or []),
    }


def record(
    action: str,
    actor: Actor,
    *,
    comment: Comment | None = None,
    site_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reasons: Sequence[Mapping[str, Any]] | None = None,
) -> AuditEvent:
    fields = {**_fields(action, actor, comment, site_id, from_status, to_status, reasons), "created_at": utcnow()}
    earlier = figures.follow([fields])  # before the add: the figures read the comment's earlier events
    # The human verdicts the calibration counts: from the same events, in the same unit of work.
    evidence.follow([fields], {comment.id: comment} if comment is not None else {}, earlier)
    event = AuditEvent(**fields)
    db.session.add(event)
    return event


def record_many(events: list[dict[str, Any]]) -> None:
    """``record`` for a batch (each item holds ``record``'s arguments): one multi-row insert."""
    if not events:
        return
    rows = [{**_fields(**item), "created_at": utcnow()} for item in events]
    earlier = figures.follow(rows)
    in_hand = {item["comment"].id: item["comment"] for item in events if item.get("comment") is not None}
    evidence.follow(rows, in_hand, earlier)
    # The table's insert, not the ORM's bulk insert: nothing here needs the mapped objects back.
    db.session.execute(AuditEvent.__table__.insert(), rows)
