"""The moderator's decisions: approve, reject, ban an author, undo one's own last decision.

(``services.moderation.outcome`` is the policy that turns scores and rules into a status; these
are the people's decisions that overrule it.) Nothing here commits: the request that decides
owns the unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from comments.extensions import db
from comments.models import (
    DECIDERS,
    DECISION_ACTIONS,
    AuditEvent,
    AuthorStatus,
    Comment,
    DecisionAction,
    Moderator,
    Status,
    WebhookEvent,
    utcnow,
)
from comments.services import moderation, readers
from comments.services.errors import Conflict
from comments.services.review.access import Reviewer, get_comment, reviewer_actor
from comments.services.statements import rows_changed
from comments.services.threads import rfc3339
from comments.services.webhooks import outbox

ACTIONS = ("approve", "reject")
# The short list of reasons a moderator can give for a rejection (code, words); free text stays
# possible through the API.
REJECT_REASONS = (
    ("spam", "Spam"),
    ("abuse", "Abuse or harassment"),
    ("hate", "Hate speech"),
    ("off_topic", "Off topic"),
    ("personal_data", "Personal data"),
    ("other", "Other"),
)
UNDO_SECONDS = 60  # the dashboard offers undo for a few seconds; the server allows some slack


def _waiting(comment: Comment) -> bool:
    return comment.status in (Status.HELD, Status.PENDING) or (
        comment.status == Status.PUBLISHED and comment.reported_at is not None
    )


def last_decision(comment_id: int) -> dict[str, Any] | None:
    event = db.session.execute(
        select(AuditEvent)
        .where(
            AuditEvent.comment_id == comment_id,
            AuditEvent.actor_type.in_(DECIDERS),
            AuditEvent.action.in_((*DECISION_ACTIONS, "decision_undone")),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None:
        return None
    moderator = (
        db.session.get(Moderator, int(event.actor_id)) if event.actor_id and event.actor_type == "moderator" else None
    )
    return {
        "action": event.action,
        "status": event.to_status,
        "at": rfc3339(event.created_at),
        "by": moderator.email if moderator else event.actor_id,
    }


def _already_decided(comment: Comment) -> Conflict:
    decision = last_decision(comment.id)
    if decision:
        message = f"Already {decision['action']} by {decision['by']} at {decision['at']}."
    else:
        message = f"This comment is no longer waiting (it is {comment.status})."
    return Conflict(
        "already_decided",
        message,
        details={"current": {"status": comment.status, "version": comment.version, "decision": decision}},
    )


def _hold(comment: Comment) -> None:
    """Take the comment for this unit of work while its version is still the one read, or raise
    "already decided". A no-op UPDATE guarded by the version: a concurrent decision waits for ours
    to commit (PostgreSQL's row lock, SQLite's write lock) and then finds the version moved; no
    change is made before, so the rest of the unit of work (a bulk action's other decisions) stands."""
    held = rows_changed(
        update(Comment)
        .where(Comment.id == comment.id, Comment.version == comment.version)
        .values(version=Comment.version)
        .execution_options(synchronize_session=False)
    )
    if held != 1:
        db.session.refresh(comment)
        raise _already_decided(comment)


def decide(
    reviewer: Reviewer,
    comment_id: int,
    action: str,
    *,
    reason: str = "",
    expected_version: int | None = None,
    ban_author: bool = False,
) -> Comment:
    """Approve or reject. Without ``expected_version`` only a waiting comment can be decided;
    with it, any comment whose version still matches (changing an earlier decision)."""
    comment = get_comment(reviewer, comment_id)
    if comment.status == Status.DELETED:
        raise Conflict("not_decidable", "Its author deleted this comment.")
    if expected_version is not None and expected_version != comment.version:
        raise _already_decided(comment)
    if expected_version is None and not _waiting(comment):
        raise _already_decided(comment)
    new_status = Status.PUBLISHED if action == "approve" else Status.REJECTED
    actor = reviewer_actor(reviewer)
    # What the decision overwrites, so that ``undo_decision`` can put it back exactly.
    note: list[Mapping[str, Any]] = [
        {
            "kind": actor.type,
            "code": action,
            "reason": reason,
            "moderator": reviewer.email,
            "was_reported_at": rfc3339(comment.reported_at),
            "was_decided_at": rfc3339(comment.decided_at),
            "ban_created": bool(ban_author and readers.author_of(comment).status != AuthorStatus.BANNED),
        }
    ]
    _hold(comment)
    comment.reported_at = None
    taken = DecisionAction.APPROVED.value if action == "approve" else DecisionAction.REJECTED.value
    moderation.change_status(comment, new_status, actor, taken, audit_reasons=[*(comment.reasons or []), *note])
    if ban_author:
        _ban(reviewer, comment, reason)
    outbox.emit(
        comment.site_id,
        WebhookEvent.DECIDED.value,
        lambda: outbox.comment_data(
            comment,
            decision={
                "action": action,
                "reason": reason,
                "by": {"type": actor.type, "id": (reviewer.email if actor.type == "moderator" else actor.id)},
            },
        ),
        comment_id=comment.id,
    )
    db.session.flush()  # the new version, for the answer that shows it
    return comment


def _ban(reviewer: Reviewer, comment: Comment, reason: str) -> None:
    """Ban the comment's author (their record's status): audited with the comment it came from."""
    readers.set_status(
        readers.author_of(comment),
        AuthorStatus.BANNED,
        reviewer_actor(reviewer),
        reason=reason,
        comment=comment,
        code="ban",
    )


def ban_author(reviewer: Reviewer, comment_id: int, reason: str = "") -> None:
    _ban(reviewer, get_comment(reviewer, comment_id), reason)


# The audit actions of a ban that came with a decision ("author_banned" before authors had records).
BAN_ACTIONS = ("author_status_changed", "author_banned")


def undo_decision(reviewer: Reviewer, comment_id: int, *, window_seconds: int = UNDO_SECONDS) -> Comment:
    """Put a comment back where it was before this reviewer's last decision on it.

    Only the reviewer who decided may undo, only within ``window_seconds``, and only while
    nothing else changed the comment since; the undo goes through ``change_status`` and is
    recorded in the audit log like any other change (a ban the decision created is lifted too).
    """
    comment = get_comment(reviewer, comment_id)
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.comment_id == comment_id).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    if event is not None and event.action in BAN_ACTIONS:
        # The ban that came with the decision is written after it; look one further back.
        event = db.session.execute(
            select(AuditEvent)
            .where(AuditEvent.comment_id == comment_id, AuditEvent.id < event.id)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    actor = reviewer_actor(reviewer)
    if (
        event is None
        or event.action not in DECISION_ACTIONS
        or event.actor_type not in DECIDERS
        or event.to_status != comment.status
        or not event.from_status
    ):
        raise Conflict("nothing_to_undo", "This comment has changed since the decision; there is nothing to undo.")
    if (event.actor_type, event.actor_id) != (actor.type, actor.id):
        raise Conflict("nothing_to_undo", "Only the moderator who decided can undo the decision.")
    if (utcnow() - event.created_at).total_seconds() > window_seconds:
        raise Conflict("undo_expired", "It is too late to undo this decision; decide again instead.")
    note: Mapping[str, Any] = next((r for r in reversed(event.reasons or []) if r.get("kind") == actor.type), {})
    _hold(comment)
    moderation.change_status(
        comment,
        Status(event.from_status),
        actor,
        "decision_undone",
        audit_reasons=[
            {
                "kind": actor.type,
                "code": "undo",
                "undid": event.action,
                "event_id": event.id,
                "moderator": reviewer.email,
            }
        ],
    )
    comment.reported_at = _parse_time(note.get("was_reported_at"))
    comment.decided_at = _parse_time(note.get("was_decided_at"))
    author = readers.author_of(comment)
    if note.get("ban_created") and author.status == AuthorStatus.BANNED:
        readers.set_status(author, AuthorStatus.ACTIVE, actor, comment=comment, code="undo")
    db.session.flush()  # the new version, for the answer that shows it
    return comment


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
