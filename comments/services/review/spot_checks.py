"""Answering spot checks: a moderator (or a host key with the moderate scope) says whether a comment
the machine published was fine or should have been held, and may remove it at once.

The checks are drawn at publication (``services.calibration.evidence``); the queue lists the
unanswered ones (``services.review.queue``, queue ``spot-check``). The answer is audited
(``spot_checked``), and the calibration's evidence follows from that audit event, as it does from
every decision. Nothing here commits: the request owns the unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from comments.extensions import db
from comments.models import AuditEvent, Comment, SpotCheck, SpotCheckVerdict, Status, utcnow
from comments.services import audit
from comments.services.calibration.evidence import SPOT_CHECK_UNDONE, SPOT_CHECKED
from comments.services.errors import Conflict, NotFound
from comments.services.review import decisions
from comments.services.review.access import Reviewer, get_comment, reviewer_actor
from comments.services.statements import rows_changed
from comments.services.threads import rfc3339


@dataclass(frozen=True)
class SpotCheckView:
    """A spot check as the API's ``SpotCheckSchema`` dumps it."""

    comment_id: int
    probability: float
    band: str
    created_at: datetime
    verdict: str | None
    answered_at: datetime | None
    answered_by: Answerer | None


@dataclass(frozen=True)
class Answerer:
    type: str  # moderator or host
    id: str | None


def view(check: SpotCheck) -> SpotCheckView:
    answerer = Answerer(check.answered_by_type, check.answered_by_id) if check.answered_by_type else None
    return SpotCheckView(
        comment_id=check.comment_id,
        probability=check.probability,
        band=check.band,
        created_at=check.created_at,
        verdict=check.verdict,
        answered_at=check.answered_at,
        answered_by=answerer,
    )


def _check_of(reviewer: Reviewer, comment_id: int) -> tuple[Comment, SpotCheck]:
    comment = get_comment(reviewer, comment_id)  # 404 unknown, 403 another site's: as every decision
    check = db.session.get(SpotCheck, comment_id)
    if check is None:
        raise NotFound("spot_check_not_found", "This comment was not drawn for a spot check.")
    return comment, check


def _already_answered(check: SpotCheck) -> Conflict:
    return Conflict(
        "already_answered",
        f"This spot check was already answered ({check.verdict}) at {rfc3339(check.answered_at)}.",
        details={"current": {"verdict": check.verdict, "answered_at": rfc3339(check.answered_at)}},
    )


def _note(reviewer: Reviewer, check: SpotCheck, remove: bool, reason: str, *, code: str) -> dict[str, Any]:
    """The audit event's reason: the verdict as its code, and what the check was."""
    return {
        "kind": reviewer_actor(reviewer).type,
        "code": code,
        "moderator": reviewer.email,
        "probability": check.probability,
        "band": check.band,
        "remove": remove,
        "reason": reason,
    }


def answer(reviewer: Reviewer, comment_id: int, verdict: str, *, remove: bool = False, reason: str = "") -> SpotCheck:
    """Answer a comment's spot check; with ``remove`` (only for "should have been held") the comment
    is rejected through the moderators' decision (audited, webhooks, figures). Conflict
    ``already_answered`` when someone answered first."""
    if verdict not in (SpotCheckVerdict.FINE, SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD):
        raise ValueError(f"unknown verdict {verdict!r}")  # the API's schema checks it first
    if remove and verdict != SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD:
        raise ValueError("only a comment that should have been held is removed")
    comment, check = _check_of(reviewer, comment_id)
    if check.verdict is not None:
        raise _already_answered(check)
    if comment.status != Status.PUBLISHED:
        raise Conflict("not_decidable", f"This comment is no longer published (it is {comment.status}).")
    actor = reviewer_actor(reviewer)
    now = utcnow()
    answered = {"verdict": verdict, "answered_at": now, "answered_by_type": actor.type, "answered_by_id": actor.id}
    # Guarded by "not answered yet": of two answers at once, the second finds the row answered
    # (PostgreSQL's row lock, SQLite's write lock make it wait for the first) and changes nothing.
    changed = rows_changed(
        update(SpotCheck)
        .where(SpotCheck.comment_id == comment_id, SpotCheck.verdict.is_(None))
        .values(**answered)
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.refresh(check)
        raise _already_answered(check)
    for name, value in answered.items():
        set_committed_value(check, name, value)
    if verdict == SpotCheckVerdict.FINE:
        note = _note(reviewer, check, remove, reason, code="fine")
    else:
        note = _note(reviewer, check, remove, reason, code="should_have_been_held")
    audit.record(SPOT_CHECKED, actor, comment=comment, reasons=[note])
    if remove:
        decisions.decide(reviewer, comment_id, "reject", reason=reason, expected_version=comment.version)
    db.session.flush()
    return check


def _removed_with_the_answer(comment_id: int) -> bool:
    """Whether the comment's last spot-check answer asked for its removal (its audit event says)."""
    reasons = db.session.execute(
        select(AuditEvent.reasons)
        .where(AuditEvent.comment_id == comment_id, AuditEvent.action == SPOT_CHECKED)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return any(reason.get("remove") for reason in reasons or [])


def undo_answer(reviewer: Reviewer, comment_id: int, *, window_seconds: int = decisions.UNDO_SECONDS) -> SpotCheck:
    """Take back this reviewer's answer within ``window_seconds`` (and the removal that came with
    it, through the decisions' undo): the check waits in the queue again."""
    comment, check = _check_of(reviewer, comment_id)
    actor = reviewer_actor(reviewer)
    if check.verdict is None:
        raise Conflict("nothing_to_undo", "This spot check has no answer to undo.")
    if (check.answered_by_type, check.answered_by_id) != (actor.type, actor.id):
        raise Conflict("nothing_to_undo", "Only the moderator who answered can undo the answer.")
    if check.answered_at is None or (utcnow() - check.answered_at).total_seconds() > window_seconds:
        raise Conflict("undo_expired", "It is too late to undo this answer; the check stays answered.")
    if comment.status == Status.REJECTED and _removed_with_the_answer(comment_id):
        # Removed with the answer: the rejection is undone first (refused if anything came since).
        # A rejection decided on its own afterwards (after reports, say) is not the answer's.
        decisions.undo_decision(reviewer, comment_id, window_seconds=window_seconds)
    previous = check.verdict
    changed = rows_changed(
        update(SpotCheck)
        .where(SpotCheck.comment_id == comment_id, SpotCheck.verdict == previous)
        .values(verdict=None, answered_at=None, answered_by_type=None, answered_by_id=None)
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        raise Conflict("nothing_to_undo", "This spot check has changed since the answer; there is nothing to undo.")
    for name in ("verdict", "answered_at", "answered_by_type", "answered_by_id"):
        set_committed_value(check, name, None)
    reasons = [
        {"kind": actor.type, "code": "undo", "undid": SPOT_CHECKED, "verdict": previous, "moderator": reviewer.email}
    ]
    audit.record(SPOT_CHECK_UNDONE, actor, comment=comment, reasons=reasons)
    db.session.flush()
    return check
