"""Scoring stored comments with the classifier and letting the policy decide.

The database is the truth: a comment waits as ``pending`` (or with ``needs_scoring`` after the
classifier failed) until a worker scores it here. Whoever runs this (an in-process thread, an RQ
worker, the rescore command) may run it twice on the same comment: only comments still waiting
are touched, and every write checks the comment's version, so the second run changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm.exc import StaleDataError

from comments.classifier import Classifier, ClassifierUnavailable
from comments.extensions import db
from comments.models import Comment, Reason, Status, utcnow
from comments.services import moderation, recent_history
from comments.services.audit import Actor
from comments.services.calibration import evidence
from comments.services.sites import effective_settings

log = logging.getLogger(__name__)

CLASSIFIER_ACTOR = Actor("system", "classifier")


@dataclass
class ScoringRun:
    """What one call did, for logs, metrics and tests."""

    scored: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)


def rule_reasons(comment: Comment) -> list[Reason]:
    """The reasons that came from the site's rules, without any earlier classifier verdict."""
    return [r for r in (comment.reasons or []) if r.get("kind") != "classifier"]


# Where a comment decided while the classifier was down can be (rejected only by a person: the
# scores are still recorded for it, as for the others).
_DECIDED_UNSCORED = (Status.HELD.value, Status.PUBLISHED.value, Status.REJECTED.value)


def waiting_query(older_than_seconds: float = 0) -> Select[Comment]:
    """Comments that wait for scores: pending, or decided while the classifier was down."""
    query = select(Comment).where(
        or_(
            Comment.status == Status.PENDING.value,
            Comment.needs_scoring.is_(True) & Comment.status.in_(_DECIDED_UNSCORED),
        )
    )
    if older_than_seconds:
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        query = query.where(
            or_(Comment.edited_at.is_(None) & (Comment.created_at <= cutoff), Comment.edited_at <= cutoff)
        )
    return query.order_by(Comment.id)


_WAITING_BY_ID = waiting_query().where(Comment.id.in_(bindparam("ids", expanding=True))).limit(bindparam("limit"))


def score_waiting(
    classifier: Classifier | None,
    ids: Sequence[int] | None = None,
    *,
    limit: int = 64,
    older_than_seconds: float = 0,
    load_error: str | None = None,
) -> ScoringRun:
    """Score up to ``limit`` waiting comments (only those in ``ids`` when given) and decide them.

    ``classifier`` None means it could not be loaded (``load_error`` says why): the policy then
    applies the site's failure policy and the comments stay marked for another try.

    The caller's transaction holds this batch and nothing else: the job that calls this commits
    it (one commit per batch), and on a conflict this rolls it back to decide one at a time.
    """
    started = time.perf_counter()
    if ids is not None and not older_than_seconds:
        # The worker's hot path: a statement built once, with the ids bound.
        comments = list(db.session.execute(_WAITING_BY_ID, {"ids": list(ids), "limit": limit}).scalars())
    else:
        query = waiting_query(older_than_seconds)
        if ids is not None:
            query = query.where(Comment.id.in_(list(ids)))
        comments = list(db.session.execute(query.limit(limit)).scalars())
    run = ScoringRun()
    if not comments:
        return run
    texts = [c.body for c in comments]
    scores, error, model = _classify(classifier, texts, load_error)
    results = [
        moderation.ClassifierResult(
            scores=scores[i] if scores is not None else None, model=model, error=error, text=text
        )
        for i, text in enumerate(texts)
    ]
    try:
        outcomes = _apply_batch(comments, results)
    except StaleDataError:
        # Another worker or a moderator changed one of them meanwhile: theirs stands. Nothing but
        # this batch is in the transaction (the job's): it is rolled back and the comments are
        # decided again one at a time, each in its own savepoint, so only the changed ones are left
        # alone. The job's one commit stores them all.
        db.session.rollback()
        _lock_for_writing()
        outcomes = [_apply(comment, result) for comment, result in zip(comments, results, strict=True)]
    for outcome in outcomes:
        if outcome is None:
            run.skipped += 1
            continue
        run.outcomes[outcome] = run.outcomes.get(outcome, 0) + 1
        if scores is None:
            run.failed += 1
        else:
            run.scored += 1
    run.seconds = time.perf_counter() - started
    return run


def _lock_for_writing() -> None:
    """Begin a transaction that holds SQLite's write lock from its first read.

    The one-at-a-time decisions read each comment again inside a savepoint, then write it. A
    savepoint opens a deferred transaction on SQLite, whose read snapshot cannot become a write
    once another connection (a post, an edit) has committed: SQLite answers "database is locked"
    at once, without waiting. Taken first, the lock makes the others wait instead; nothing slow
    runs while it is held (the scores are already computed). PostgreSQL needs nothing of this.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _classify(
    classifier: Classifier | None, texts: list[str], load_error: str | None
) -> tuple[list[dict[str, float]] | None, str | None, str | None]:
    if classifier is None:
        return None, load_error or "the classifier is not loaded", None
    model = f"{classifier.name}@{classifier.version}"
    try:
        return classifier.score(texts), None, model
    except ClassifierUnavailable as exc:
        log.warning("classifier failed on %d texts: %s", len(texts), exc)
        return None, str(exc), model


def _record_scores(comment: Comment, scores: dict[str, float], model: str | None) -> None:
    comment.scores = {label: round(float(value), 6) for label, value in scores.items()}
    comment.max_score = max(comment.scores.values(), default=None)
    comment.model_name = model
    comment.scored_at = utcnow()
    comment.needs_scoring = False


def _decision(
    comment: Comment, result: moderation.ClassifierResult, settings: dict[str, Any]
) -> tuple[Status, moderation.Move | None] | None:
    """Record the scores and say the comment's status, with the move to make (None when status
    and reasons stay as they are); None when the comment no longer waits for these scores."""
    if comment.status != Status.PENDING and not comment.needs_scoring:
        return None  # decided meanwhile (seen after an earlier conflict reloaded it)
    if result.text is not None and comment.body != result.text:
        # Edited while the model ran: these scores are another text's. The new text is pending
        # and its own scoring (its job, or the sweep) decides it.
        return None
    if comment.decided_at is not None and comment.status != Status.PENDING:
        # A person decided this text (approved it while the classifier was down, say): the
        # scores are recorded for the record, the status and its reasons stay theirs.
        if result.scores is None:
            return None
        _record_scores(comment, result.scores, result.model)
        return Status(comment.status), None
    status, reasons = moderation.outcome(rule_reasons(comment), settings, result)
    if result.scores is not None:
        _record_scores(comment, result.scores, result.model)
    else:
        comment.needs_scoring = True
    if comment.status == Status.PENDING or status != comment.status or reasons != comment.reasons:
        return status, moderation.Move(comment, status, reasons)
    return status, None


def _action(result: moderation.ClassifierResult) -> str:
    return "scored" if result.scores is not None else "scoring_failed"


def _apply_batch(comments: list[Comment], results: list[moderation.ClassifierResult]) -> list[str | None]:
    """Decide a batch with grouped writes: one statement for the comments (each row checks the
    comment's version: StaleDataError if any changed meanwhile), one audit insert."""
    settings = _settings_by_site(comments)
    with db.session.no_autoflush:  # the comments' rows are written once, by write_decisions
        decisions = [
            _decision(comment, result, settings[comment.site_id])
            for comment, result in zip(comments, results, strict=True)
        ]
        _write(comments, decisions, results, settings)
    return [decision[0].value if decision is not None else None for decision in decisions]


def _write(
    comments: list[Comment],
    decisions: list[tuple[Status, moderation.Move | None] | None],
    results: list[moderation.ClassifierResult],
    settings: Mapping[int, dict[str, Any]],
) -> None:
    """Store the comments' decisions (those still waiting: a decision, not None); ``settings``:
    the effective settings of each site of the batch (``_settings_by_site``)."""
    decided = [
        (comment, decision[1]) for comment, decision in zip(comments, decisions, strict=True) if decision is not None
    ]
    moves = [move for _, move in decided if move is not None]
    rescored = [comment for comment, move in decided if move is None]
    # one classifier call: every result scored, or none
    moderation.change_statuses(moves, CLASSIFIER_ACTOR, _action(results[0]), also_write=rescored)
    # The classifier's (or the rules') rejections may put their authors on premod: same unit of work.
    recent_history.after_decisions(move.comment for move in moves if move.status == Status.REJECTED)
    # The score distributions and the spot checks' draw, in the same unit of work.
    evidence.after_scoring(
        [
            _scored(comment, decision[0], result, settings[comment.site_id])
            for comment, decision, result in zip(comments, decisions, results, strict=True)
            if decision is not None and result.scores is not None and comment.decided_at is None
        ]
    )
    # Their rows are written: out of the session, or the commit's unit of work would go through
    # every one of them again (~0.2 ms a comment) only to find nothing left to write. Nothing
    # after this reads them.
    for comment, _ in decided:
        db.session.expunge(comment)


def _settings_by_site(comments: Iterable[Comment]) -> dict[int, dict[str, Any]]:
    """Each site's effective settings, worked out once for a batch (the decision and the
    calibration's tables both read them)."""
    settings: dict[int, dict[str, Any]] = {}
    for comment in comments:
        if comment.site_id not in settings:
            settings[comment.site_id] = effective_settings(comment.site)
    return settings


def _scored(
    comment: Comment,
    status: Status,
    result: moderation.ClassifierResult,
    settings: dict[str, Any],
    *,
    draw: bool = True,
) -> evidence.Scored:
    """A comment the machine decided on its new scores, for the calibration's tables."""
    assert result.scores is not None
    return evidence.Scored(
        comment=comment,
        status=status,
        scores=comment.scores or result.scores,
        model=result.model,
        thresholds=settings["thresholds"],
        spot_check_rate=settings["spot_check_rate"],
        draw=draw,
    )


def _apply(comment: Comment, result: moderation.ClassifierResult) -> str | None:
    """Decide one comment from its scores; None when someone else got there first."""
    try:
        with db.session.begin_nested(), db.session.no_autoflush:
            settings = _settings_by_site([comment])
            decision = _decision(comment, result, settings[comment.site_id])
            if decision is None:
                return None
            _write([comment], [decision], [result], settings)
    except StaleDataError:
        # Theirs stands: this comment's savepoint is rolled back; the rest of the batch goes on.
        return None
    return decision[0].value


# --- re-scoring after a model or threshold change ---------------------------------------------


@dataclass
class Rescore:
    """What re-scoring found (and, when applied, did)."""

    examined: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for change in self.changes:
            key = f"{change['from']} -> {change['to']}"
            counts[key] = counts.get(key, 0) + 1
        return counts


def rescore(
    classifier: Classifier,
    *,
    site_id: int | None = None,
    since: Any = None,
    apply: bool = False,
    batch_size: int = 32,
    commit_each: Callable[[], None] | None = None,
) -> Rescore:
    """Score published, held and rejected comments again and decide them with today's settings.

    A moderator's decision stands: comments a moderator approved or rejected are not touched.
    Without ``apply`` nothing is written; the result says what would change. With ``apply``,
    ``commit_each`` is the caller's commit, called after each comment's write: a long rescore
    keeps what it did, and a comment changed meanwhile costs only its own write.
    """
    if apply and commit_each is None:
        raise ValueError("rescore(apply=True) needs the caller's commit_each")
    result = Rescore()
    last_id = 0
    model = f"{classifier.name}@{classifier.version}"
    while True:
        query = select(Comment).where(
            Comment.id > last_id,
            Comment.status.in_([Status.PUBLISHED.value, Status.HELD.value, Status.REJECTED.value]),
            Comment.decided_at.is_(None),
        )
        if site_id is not None:
            query = query.where(Comment.site_id == site_id)
        if since is not None:
            query = query.where(Comment.created_at >= since)
        batch = list(db.session.execute(query.order_by(Comment.id).limit(batch_size)).scalars())
        if not batch:
            return result
        last_id = batch[-1].id
        texts = [c.body for c in batch]
        scores = classifier.score(texts)
        for comment, text, comment_scores in zip(batch, texts, scores, strict=True):
            result.examined += 1
            if apply and comment.body != text:
                # Edited while the model ran (seen after an earlier comment's conflict reloaded
                # it): the edit's own scoring decides the new text.
                result.skipped += 1
                continue
            verdict = moderation.ClassifierResult(comment_scores, model=model)
            settings = effective_settings(comment.site)
            status, reasons = moderation.outcome(rule_reasons(comment), settings, verdict)
            if status != comment.status:
                result.changes.append(
                    {
                        "comment_id": comment.id,
                        "site_id": comment.site_id,
                        "from": comment.status,
                        "to": status.value,
                        "max_score": round(max(comment_scores.values(), default=0.0), 4),
                    }
                )
            if apply:
                if not _rescore_one(comment, comment_scores, model, status, reasons, settings):
                    result.skipped += 1
                assert commit_each is not None
                commit_each()
        if not apply:
            db.session.rollback()  # nothing of a dry run may stick
        db.session.expunge_all()


def _rescore_one(
    comment: Comment,
    scores: dict[str, float],
    model: str,
    status: Status,
    reasons: list[Reason],
    settings: dict[str, Any],
) -> bool:
    """Write one comment's new scores (and status), through the same version- and text-checked
    statement as the scoring worker's, in a savepoint; False when it changed since it was read
    (theirs stands: only this comment's savepoint is rolled back)."""
    try:
        with db.session.begin_nested(), db.session.no_autoflush:
            _record_scores(comment, scores, model)
            newly_published = status == Status.PUBLISHED and comment.status != Status.PUBLISHED
            if status != comment.status or reasons != comment.reasons:
                moderation.change_statuses([moderation.Move(comment, status, reasons)], CLASSIFIER_ACTOR, "rescored")
            else:
                moderation.write_decisions([comment])
            # A model change scores it anew: the distributions count it; newly published (it was
            # held), it may be drawn for a check.
            rescored = _scored(
                comment, status, moderation.ClassifierResult(scores, model=model), settings, draw=newly_published
            )
            evidence.after_scoring([rescored])
        return True
    except StaleDataError:
        return False
