"""The moderation policy and every status change.

``outcome`` is the one place that turns rule verdicts and classifier scores into a status;
this module is the one place that moves comments between statuses, keeping counters, the
thread's revision, the audit log and webhook events in step: ``change_status`` for one comment,
``store_new`` for a new one (stored once, already in its status), ``change_statuses`` for a
scoring batch (the same writes, grouped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Row, Update, bindparam, inspect, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from comments.extensions import db
from comments.models import Comment, Reason, ReasonEffect, Status, Thread, utcnow
from comments.services.audit import Actor, record, record_many
from comments.services.statements import rows_changed
from comments.services.webhooks.outbox import emit_status, emit_statuses

HOLD: Final[ReasonEffect] = "hold"
REJECT: Final[ReasonEffect] = "reject"
NOTE: Final[ReasonEffect] = "note"  # recorded, changes nothing (shadow mode, reports under the threshold)

# Every reason code a comment's or an audit event's reasons carry, in the plain words people read
# (the dashboard's reason lists and filter). The code is the contract; the words may change.
REASON_TEXT: dict[str, str] = {
    "label_over_threshold": "Classifier label over threshold",
    "classifier_unavailable": "Classifier unavailable",
    "banned_word": "Banned words",
    "suspect_word": "Suspect words",
    "premoderation_all": "Pre-moderation (every comment)",
    "premoderation_first_comment": "Pre-moderation (first comment)",
    "premoderation_links": "Pre-moderation (contains links)",
    "repeat_post": "Same text posted under another article",
    "author_banned": "Author is banned",
    "author_premod": "Author is on pre-moderation",
    "author_history": "Author had comments rejected recently",
    "recent_history": "Most of the author's recent comments were rejected",
    "author_status": "Author status changed",
    "reader_report": "Reported by readers",
    "report_threshold": "Enough readers reported it",
    "deleted_by_author": "Deleted by its author",
    "erased_on_request": "Erased on request",
    "imported": "Imported",
    "ban": "Ban",
    "undo": "Undo",
    "fine": "Spot check: rightly published",
    "should_have_been_held": "Spot check: should have been held",
}
# The codes a moderator can filter the queues by (after the classifier's labels), in menu order:
# those that put a comment into a queue.
FILTER_REASON_CODES = (
    "suspect_word",
    "banned_word",
    "premoderation_all",
    "premoderation_first_comment",
    "premoderation_links",
    "repeat_post",
    "author_banned",
    "author_premod",
    "author_history",
    "reader_report",
    "report_threshold",
    "classifier_unavailable",
)


def reason_text(code: str) -> str:
    """A reason code in plain words; a code this version does not know (older data) is spelled out."""
    return REASON_TEXT.get(code) or code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ClassifierResult:
    """What the classifier said about a text, or why it could not say.

    ``text`` is the exact text the scores were computed on: they decide a comment only while
    the comment still holds that text (an edit while the model ran makes them another text's).
    """

    scores: dict[str, float] | None
    model: str | None = None
    error: str | None = None
    text: str | None = None


def outcome(
    rule_reasons: list[Reason],
    settings: dict[str, Any],
    classifier: ClassifierResult | None,
) -> tuple[Status, list[Reason]]:
    """A status and every reason for it.

    ``classifier`` is None when no classifier takes part (then the rules alone decide).
    """
    reasons = [Reason(**r) for r in rule_reasons]
    if classifier is not None:
        reasons.extend(_classifier_reasons(classifier, settings))
    effects = {r.get("effect") for r in reasons}
    if REJECT in effects:
        return Status.REJECTED, reasons
    if HOLD in effects:
        return Status.HELD, reasons
    return Status.PUBLISHED, reasons


def _classifier_reasons(result: ClassifierResult, settings: dict[str, Any]) -> list[Reason]:
    if result.scores is None:
        effect: ReasonEffect = NOTE if settings["failure_policy"] == "publish" else HOLD
        return [
            {
                "kind": "classifier",
                "code": "classifier_unavailable",
                "effect": effect,
                "detail": result.error or "the classifier did not answer",
            }
        ]
    reasons: list[Reason] = []
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
        reasons.append(
            {
                "kind": "classifier",
                "code": "label_over_threshold",
                "label": label,
                "score": round(score, 4),
                "threshold": limit,
                "effect": effect,
                "model": result.model,
            }
        )
    return reasons


def reason_codes(reasons: list[Reason]) -> str:
    codes = {r.get("code") for r in reasons} | {r.get("label") for r in reasons}
    return " ".join(sorted(c for c in codes if c))[:500]


_SEEN_BY_READERS = frozenset({Status.PUBLISHED, Status.DELETED})


def change_status(
    comment: Comment,
    new_status: Status,
    actor: Actor,
    action: str,
    reasons: list[Reason] | None = None,
    audit_reasons: Sequence[Mapping[str, Any]] | None = None,
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
    record(action, actor, comment=comment, from_status=old_status, to_status=new_status.value, reasons=audit_reasons)
    # In the same transaction: the event is stored (for webhooks) exactly when the change is.
    emit_status(comment, old_status, new_status.value, action)


def store_new(comment: Comment, status: Status, actor: Actor, action: str, reasons: list[Reason]) -> None:
    """Store a new comment (it enters as ``pending``) already in ``status``: the same counters,
    audit row and webhook event as ``change_status`` from pending, without writing the row twice."""
    comment.status = Status.PENDING.value
    _set_status(comment, status, actor, reasons)
    _insert(comment)
    _after_moves([(comment, Status.PENDING.value)], actor, action)


_INSERT_COMMENT = Comment.__table__.insert()
_COMMENT_COLUMNS = tuple(Comment.__table__.c.keys())


def _insert(comment: Comment) -> None:
    """INSERT a new comment with one plain statement, then hand it to the session as stored.

    The unit of work would cost three times as much for one row (posting is the hot path), and
    nothing about a new row needs it: the statement fills in the columns' defaults itself, and
    the object gets them, and its id, as if it had been loaded.
    """
    given: dict[str, Any] = inspect(comment).dict
    values = {key: given[key] for key in _COMMENT_COLUMNS if key in given}
    result = cast(CursorResult[Any], db.session.execute(_INSERT_COMMENT, values))
    stored: dict[str, Any] = dict.fromkeys(_COMMENT_COLUMNS)  # no default and not given: NULL
    # One row's statement: one dict of parameters, one primary key.
    stored.update(cast(dict[str, Any], result.last_inserted_params()))
    stored["id"] = cast(Row[Any], result.inserted_primary_key)[0]
    for key, value in stored.items():
        setattr(comment, key, value)
    make_transient_to_detached(comment)
    db.session.add(comment)


@dataclass(frozen=True)
class Move:
    """One comment's new status and reasons, for :func:`change_statuses`."""

    comment: Comment
    status: Status
    reasons: list[Reason]


def change_statuses(moves: list[Move], actor: Actor, action: str, also_write: Sequence[Comment] = ()) -> None:
    """``change_status`` for a batch (the scoring worker's): the same writes, grouped.

    The comments' rows go in one statement (``write_decisions``, with ``also_write``: comments
    whose scores changed but not their status), counters are added up per thread and per
    parent, the audit rows go in one insert and the sites' webhook subscriptions are read once,
    so deciding N comments costs a few statements, not a few per comment.
    """
    olds = [(move.comment, move.comment.status) for move in moves]
    for move in moves:
        _set_status(move.comment, move.status, actor, move.reasons)
    write_decisions([move.comment for move in moves] + list(also_write))
    _after_moves(olds, actor, action)


# What deciding a comment changes in its row: its status, why, and the scores it was decided on.
_DECISION_COLUMNS = (
    "status",
    "reasons",
    "reason_codes",
    "scores",
    "max_score",
    "model_name",
    "scored_at",
    "needs_scoring",
    "decided_at",
)


def _write_decisions_statement() -> Update:
    table = Comment.__table__
    values = {name: bindparam(f"w_{name}", type_=table.c[name].type) for name in _DECISION_COLUMNS}
    values["version"] = bindparam("w_new_version")
    values["updated_at"] = bindparam("w_updated_at", type_=table.c.updated_at.type)
    # The row must still be at the version it was read at AND still hold the text that was
    # scored: a version check alone does not prove that the scores belong to the stored text.
    return (
        update(table)
        .where(
            table.c.id == bindparam("w_id"),
            table.c.version == bindparam("w_version"),
            table.c.body == bindparam("w_scored_body"),
        )
        .values(values)
    )


_WRITE_DECISIONS = _write_decisions_statement()


def write_decisions(comments: Sequence[Comment]) -> None:
    """Write the comments' decision columns with one statement, each row only while it is still
    at the version it was read at and still holds the text in hand (``comment.body``, the text the
    caller scored): StaleDataError when any changed meanwhile (another worker's or a moderator's
    decision stands, an author's new text waits for its own scores; the caller rolls back).

    The unit of work would write them one statement per row (it reads back ``updated_at`` for
    each); a scoring batch is the hot path of a busy site, and a short write transaction keeps
    SQLite's single write lock free for the posts. The objects' attributes are left as stored,
    with no changes pending. Callers hold ``no_autoflush`` while they change the objects, so that
    nothing is written twice.
    """
    if not comments:
        return
    now = utcnow()
    rows = [
        {
            "w_id": comment.id,
            "w_version": comment.version,
            "w_new_version": comment.version + 1,
            "w_scored_body": comment.body,
            "w_updated_at": now,
            **{f"w_{name}": getattr(comment, name) for name in _DECISION_COLUMNS},
        }
        for comment in comments
    ]
    written = rows_changed(_WRITE_DECISIONS, rows)
    if written != len(rows):
        raise StaleDataError(f"{len(rows) - written} of {len(rows)} comments changed since they were read")
    for comment, row in zip(comments, rows, strict=True):
        for name in _DECISION_COLUMNS:
            set_committed_value(comment, name, row[f"w_{name}"])
        set_committed_value(comment, "version", row["w_new_version"])
        set_committed_value(comment, "updated_at", now)


def _after_moves(moved: list[tuple[Comment, str]], actor: Actor, action: str) -> None:
    """What follows comments' moves from the given old statuses to their current ones: counters,
    one audit insert (a plain insert: the commit has no more objects to flush) and the events."""
    _follow_visibility(moved)
    record_many(
        [
            {
                "action": action,
                "actor": actor,
                "comment": comment,
                "from_status": old,
                "to_status": comment.status,
                "reasons": comment.reasons,
            }
            for comment, old in moved
        ]
    )
    emit_statuses([(comment, old, comment.status) for comment, old in moved], action)


def _set_status(comment: Comment, new_status: Status, actor: Actor, reasons: list[Reason] | None) -> None:
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
_THREAD_COUNTS = (
    update(Thread)
    .where(Thread.id == bindparam("thread_id"))
    .values(published_count=Thread.published_count + bindparam("delta"), revision=Thread.revision + 1)
)
_REPLY_COUNT = (
    update(Comment)
    .where(Comment.id == bindparam("comment_id"))
    .values(reply_count=Comment.reply_count + bindparam("delta"))
)


def _bump_thread(thread_id: int, published_delta: int) -> None:
    db.session.execute(_THREAD_COUNTS, {"thread_id": thread_id, "delta": published_delta})
