"""The moderation policy and every status change.

``decide`` is the one place that turns rule verdicts and classifier scores into a status;
this module is the one place that moves comments between statuses, keeping counters, the
thread's revision, the audit log and webhook events in step: ``change_status`` for one comment,
``store_new`` for a new one (stored once, already in its status), ``change_statuses`` for a
scoring batch (the same writes, grouped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update

from comments.extensions import db
from comments.models import Comment, Status, Thread, utcnow
from comments.services.audit import Actor, record, record_many

HOLD = "hold"
REJECT = "reject"
NOTE = "note"  # recorded, changes nothing (shadow mode, reports under the threshold)


@dataclass(frozen=True)
class ClassifierResult:
    """What the classifier said about a text, or why it could not say."""

    scores: dict[str, float] | None
    model: str | None = None
    error: str | None = None


def decide(
    rule_reasons: list[dict[str, Any]],
    settings: dict[str, Any],
    classifier: ClassifierResult | None,
) -> tuple[Status, list[dict[str, Any]]]:
    """A status and every reason for it.

    ``classifier`` is None when no classifier takes part (then the rules alone decide).
    """
    reasons = [dict(r) for r in rule_reasons]
    if classifier is not None:
        reasons.extend(_classifier_reasons(classifier, settings))
    effects = {r.get("effect") for r in reasons}
    if REJECT in effects:
        return Status.REJECTED, reasons
    if HOLD in effects:
        return Status.HELD, reasons
    return Status.PUBLISHED, reasons


def _classifier_reasons(result: ClassifierResult, settings: dict[str, Any]) -> list[dict[str, Any]]:
    if result.scores is None:
        effect = NOTE if settings["failure_policy"] == "publish" else HOLD
        return [{"kind": "classifier", "code": "classifier_unavailable", "effect": effect,
                 "detail": result.error or "the classifier did not answer"}]
    reasons = []
    reject_at = settings.get("reject_thresholds") or {}
    for label, threshold in sorted(settings["thresholds"].items()):
        score = result.scores.get(label)
        if score is None:
            continue
        if label in reject_at and score >= reject_at[label]:
            effect, limit = REJECT, reject_at[label]
        elif score >= threshold:
            effect, limit = HOLD, threshold
        else:
            continue
        if settings["shadow_mode"]:
            effect = NOTE
        reasons.append({"kind": "classifier", "code": "label_over_threshold", "label": label,
                        "score": round(score, 4), "threshold": limit, "effect": effect,
                        "model": result.model})
    return reasons


def reason_codes(reasons: list[dict[str, Any]]) -> str:
    codes = {r.get("code") for r in reasons} | {r.get("label") for r in reasons}
    return " ".join(sorted(c for c in codes if c))[:500]


_SEEN_BY_READERS = frozenset({Status.PUBLISHED, Status.DELETED})


def change_status(
    comment: Comment,
    new_status: Status,
    actor: Actor,
    action: str,
    reasons: list[dict[str, Any]] | None = None,
    audit_reasons: list[dict[str, Any]] | None = None,
) -> None:
    """Move a comment to ``new_status`` and record why; counters follow visibility.

    ``reasons`` replace the comment's own (why it is where it is); ``audit_reasons`` go only to
    the audit log (a moderator's note).
    """
    old_status = comment.status
    _set_status(comment, new_status, actor, reasons)
    _follow_visibility([(comment, old_status)])
    if audit_reasons is None:
        audit_reasons = reasons if reasons is not None else comment.reasons
    record(action, actor, comment=comment, from_status=old_status, to_status=new_status.value,
           reasons=audit_reasons)
    # In the same transaction: the event is stored (for webhooks) exactly when the change is.
    from comments.services.webhooks import emit_status

    emit_status(comment, old_status, new_status.value, action)


def store_new(comment: Comment, status: Status, actor: Actor, action: str, reasons: list[dict[str, Any]]) -> None:
    """Store a new comment (it enters as ``pending``) already in ``status``: the same counters,
    audit row and webhook event as ``change_status`` from pending, without writing the row twice."""
    comment.status = Status.PENDING.value
    _set_status(comment, status, actor, reasons)
    db.session.add(comment)
    db.session.flush()  # its id, for the audit row and the event
    _after_moves([(comment, Status.PENDING.value)], actor, action)


@dataclass(frozen=True)
class Move:
    """One comment's new status and reasons, for :func:`change_statuses`."""

    comment: Comment
    status: Status
    reasons: list[dict[str, Any]]


def change_statuses(moves: list[Move], actor: Actor, action: str) -> None:
    """``change_status`` for a batch (the scoring worker's): the same writes, grouped.

    Counters are added up per thread and per parent, the audit rows go in one insert and the
    sites' webhook subscriptions are read once, so deciding N comments costs a few statements,
    not a few per comment. The comments' own rows are written by the caller's flush.
    """
    olds = [(move.comment, move.comment.status) for move in moves]
    for move in moves:
        _set_status(move.comment, move.status, actor, move.reasons)
    _after_moves(olds, actor, action)


def _after_moves(moved: list[tuple[Comment, str]], actor: Actor, action: str) -> None:
    """What follows comments' moves from the given old statuses to their current ones: counters,
    one audit insert (a plain insert: the commit has no more objects to flush) and the events."""
    from comments.services.webhooks import emit_statuses

    _follow_visibility(moved)
    record_many([{"action": action, "actor": actor, "comment": comment, "from_status": old,
                  "to_status": comment.status, "reasons": comment.reasons} for comment, old in moved])
    emit_statuses([(comment, old, comment.status) for comment, old in moved], action)


def _set_status(comment: Comment, new_status: Status, actor: Actor, reasons: list[dict[str, Any]] | None) -> None:
    comment.status = new_status.value
    if reasons is not None:
        comment.reasons = reasons
        comment.reason_codes = reason_codes(reasons)
    if actor.type in ("moderator", "host"):  # a person's decision (a host's, with a moderate-scoped key)
        comment.decided_at = utcnow()


def _follow_visibility(moved: list[tuple[Comment, str]]) -> None:
    """Thread counters, revisions and parents' reply counts after comments moved from the given
    old statuses to their current ones."""
    thread_deltas: dict[int, int] = {}
    reply_deltas: dict[int, int] = {}
    for comment, old_status in moved:
        delta = int(comment.status == Status.PUBLISHED) - int(old_status == Status.PUBLISHED)
        # Readers see published comments and tombstones; moves between states they never see (a
        # new comment going pending, pending to held) leave the thread's ETag and counts alone.
        if old_status in _SEEN_BY_READERS or comment.status in _SEEN_BY_READERS:
            thread_deltas[comment.thread_id] = thread_deltas.get(comment.thread_id, 0) + delta
        if delta and comment.parent_id is not None:
            reply_deltas[comment.parent_id] = reply_deltas.get(comment.parent_id, 0) + delta
    for thread_id, delta in sorted(thread_deltas.items()):  # a fixed order: no lock-order deadlocks
        _bump_thread(thread_id, published_delta=delta)
    for parent_id, delta in sorted(reply_deltas.items()):
        if delta:
            db.session.execute(_REPLY_COUNT, {"comment_id": parent_id, "delta": delta})


def bump_thread_revision(thread_id: int) -> None:
    """Something readers see changed (an edit, a tombstone): thread ETags must change."""
    _bump_thread(thread_id, published_delta=0)


# Expressions, not read-modify-write, so concurrent posts never lose a count. Built once: these
# run on every status change, and building a statement costs more than executing it.
_THREAD_COUNTS = update(Thread).where(Thread.id == bindparam("thread_id")).values(
    published_count=Thread.published_count + bindparam("delta"), revision=Thread.revision + 1)
_REPLY_COUNT = update(Comment).where(Comment.id == bindparam("comment_id")).values(
    reply_count=Comment.reply_count + bindparam("delta"))


def _bump_thread(thread_id: int, published_delta: int) -> None:
    db.session.execute(_THREAD_COUNTS, {"thread_id": thread_id, "delta": published_delta})
