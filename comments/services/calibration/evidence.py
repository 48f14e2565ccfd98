"""Keeping the calibration's tables up to date as comments are scored and decided.

Three writers, each in the unit of work of the change it follows:

* ``after_scoring`` (the scoring pipeline, every batch): each label's score distribution
  (``score_bins``: one multi-row upsert per batch), and the draw of machine-published comments
  for a moderator's spot check (``spot_checks``: the probability it was drawn with is kept, so
  that the estimates can re-weight the sample).
* ``follow`` (``services.audit``, with every audit event): the human verdicts on the machine's
  decisions (``calibration_evidence``). The one place that says which comments are evidence,
  whatever the client that decided (dashboard, moderation API, bulk decisions, a host key, a spot
  check's answer): it replays the comment's audit events, which ``services.figures`` reads for
  the same events anyway, so no further read of the log is made.
* ``spot_check_backlog``: how many checks wait per site (the report's and the metrics' figure).

Which comments are evidence (spec of issue 17), for the comment's current text:

* ``hold``: the machine held it (any reason, with scores) and a moderator or host approved it
  (``bad`` False) or rejected it (True). An undo takes the verdict back (the evidence is removed,
  or the earlier verdict stands again); a later different decision replaces it.
* ``report``: the machine published it, readers reported it, and a moderator or host rejected it.
  It replaces a spot check's row (the spot checks estimate the published comments that reports
  did not bring down; those that they did are counted exactly).
* ``spot_check``: a drawn comment whose check was answered, weighted by 1 / probability.
* Automatic rejections, a person's decision on a comment the machine did not hold (a published
  comment nobody reported, say) and comments never scored are not evidence.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from comments.extensions import db
from comments.models import (
    DECIDERS,
    DECISION_ACTIONS,
    CalibrationEvidence,
    Comment,
    DecisionAction,
    EvidenceSource,
    ScoreBin,
    SpotCheck,
    SpotCheckVerdict,
    Status,
    utcnow,
)
from comments.services.calibration import estimates
from comments.services.figures import AuditStep

# The random source of the spot checks' draw. Module-level so that tests can seed or replace it
# (``evidence.sampler = random.Random(1)``); nothing here needs a cryptographic source: a
# moderator cannot steer which comments are drawn, and an author cannot see it.
sampler = random.Random()

UNDONE_ACTION = "decision_undone"
REPORT_ACTIONS = ("reported", "queued_for_review")
# The audit actions of a spot check's answer and of its undo (``services.review.spot_checks``).
SPOT_CHECKED = "spot_checked"
SPOT_CHECK_UNDONE = "spot_check_undone"
SPOT_CHECK_ACTIONS = (SPOT_CHECKED, SPOT_CHECK_UNDONE)
# An author's edit (``services.submission.resubmit``): a new text, so the verdicts of a person on
# the old one are no longer evidence (an answered spot check stays, as its check does).
EDITED_ACTION = "edited"
# A status the machine (not a person) put the comment in starts its story afresh: a new text
# (an edit goes back to pending) or a new decision on it; earlier verdicts were about another.
_MACHINE_MOVES = (Status.PENDING, Status.HELD, Status.PUBLISHED, Status.REJECTED)


# --- at scoring time --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One comment the pipeline scored and decided (the machine's decision, not a person's)."""

    comment: Comment
    status: Status  # what the machine made of it
    scores: Mapping[str, float]
    model: str | None
    thresholds: Mapping[str, float]  # the site's hold thresholds when it was scored
    spot_check_rate: float
    # A new publication by the machine (a first scoring, an edit's, a model change that publishes
    # a held comment): drawn for a spot check. A comment published again as it was is not drawn
    # twice (its chance of being checked would no longer be the probability recorded).
    draw: bool = True


def after_scoring(scored: Sequence[Scored]) -> None:
    """Add a scoring batch to the score distributions and draw its published comments for spot
    checks: one upsert for the bins, one insert for the checks drawn (nothing when none)."""
    if not scored:
        return
    add_to_bins(scored)
    draw_spot_checks(scored)


def _dialect_insert(model: Any) -> postgresql.Insert | sqlite.Insert:
    name = db.session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


@dataclass
class BinFigures:
    """What one batch adds to one bin (``ScoreBin``'s columns of the same names)."""

    scored: int = 0
    held: int = 0  # of which the machine held
    published: int = 0  # of which it published (rejected: the rest)


_BIN_FIGURES = tuple(f.name for f in fields(BinFigures))


def bin_counts(scored: Iterable[Scored], day: date) -> dict[tuple[int, str, date, str, int], BinFigures]:
    """The batch's additions per (site, label, day, model, bin), in key order (a fixed lock order
    for concurrent batches, and one row per key: PostgreSQL refuses an upsert that names a row twice)."""
    counts: dict[tuple[int, str, date, str, int], BinFigures] = {}
    for item in scored:
        held = int(item.status == Status.HELD)
        published = int(item.status == Status.PUBLISHED)
        for label, score in item.scores.items():
            key = (item.comment.site_id, label, day, item.model or "", estimates.score_bin(score))
            figures = counts.setdefault(key, BinFigures())
            figures.scored += 1
            figures.held += held
            figures.published += published
    return dict(sorted(counts.items()))


# One statement per dialect, built once: a batch of 64 comments adds to a few hundred bins, and a
# statement with that many VALUES rows costs more to compile (every batch anew) than to run.
# PostgreSQL gets the batch as arrays (one statement, one round trip, whatever the batch); SQLite,
# in-process, runs the one statement over the rows (executemany).
_BIN_UPSERTS: dict[str, Any] = {}
_SPOT_CHECK_INSERTS: dict[str, Any] = {}
_BIN_KEY_COLUMNS = ("site_id", "label", "day", "model", "bin")
_ADD_FIGURES = ", ".join(f"{figure} = score_bins.{figure} + excluded.{figure}" for figure in _BIN_FIGURES)
_PG_ARRAYS = {
    "site_id": "integer[]",
    "label": "varchar[]",
    "day": "date[]",
    "model": "varchar[]",
    "bin": "integer[]",
    **dict.fromkeys(_BIN_FIGURES, "integer[]"),
}
_PG_BIN_UPSERT = text(
    f"INSERT INTO score_bins ({', '.join(_PG_ARRAYS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{name} AS {kind})' for name, kind in _PG_ARRAYS.items())}) "
    f"ON CONFLICT ({', '.join(_BIN_KEY_COLUMNS)}) DO UPDATE SET {_ADD_FIGURES}"
)


def _bin_upsert() -> Any:
    name = db.session.get_bind().dialect.name
    statement = _BIN_UPSERTS.get(name)
    if statement is None:
        insert = _dialect_insert(ScoreBin)
        table = ScoreBin.__table__
        # An upsert that adds: concurrent batches never lose a count.
        statement = _BIN_UPSERTS[name] = insert.on_conflict_do_update(
            index_elements=[table.c[column] for column in _BIN_KEY_COLUMNS],
            set_={figure: table.c[figure] + insert.excluded[figure] for figure in _BIN_FIGURES},
        )
    return statement


def add_to_bins(scored: Iterable[Scored]) -> None:
    """One upsert statement for the batch, its rows in key order (concurrent batches lock the
    bins they share in the same order: no deadlocks)."""
    counts = bin_counts(scored, utcnow().date())
    if not counts:
        return
    rows = [
        {"site_id": site_id, "label": label, "day": day, "model": model, "bin": bin_, **asdict(figures)}
        for (site_id, label, day, model, bin_), figures in counts.items()
    ]
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_PG_BIN_UPSERT, {name: [row[name] for row in rows] for name in _PG_ARRAYS})
    else:
        db.session.execute(_bin_upsert(), rows)


def _spot_check_insert() -> Any:
    name = db.session.get_bind().dialect.name
    statement = _SPOT_CHECK_INSERTS.get(name)
    if statement is None:
        # An answered check of an earlier text stays as it is.
        statement = _SPOT_CHECK_INSERTS[name] = _dialect_insert(SpotCheck).on_conflict_do_nothing(
            index_elements=[SpotCheck.__table__.c.comment_id]
        )
    return statement


def draw_spot_checks(scored: Iterable[Scored]) -> None:
    """Draw each comment the machine published with its stratified probability; a drawn one gets
    a check. The comment is published all the same (readers are never kept waiting for a check).

    A comment scored again after an edit is drawn again when published: a check still unanswered
    was drawn for the earlier text and is dropped (replaced when drawn again); an answered one
    stays, the verdict of a moderator."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    redrawn: list[int] = []
    for item in scored:
        if not item.draw:
            continue
        if item.comment.edited_at is not None:
            redrawn.append(item.comment.id)
        if item.status != Status.PUBLISHED or not item.scores:
            continue
        probability, band = estimates.spot_check_probability(item.scores, item.thresholds, item.spot_check_rate)
        if probability > 0 and sampler.random() < probability:
            rows.append(
                {
                    "comment_id": item.comment.id,
                    "site_id": item.comment.site_id,
                    "probability": probability,
                    "band": band,
                    "created_at": now,
                }
            )
    if redrawn:
        db.session.execute(
            delete(SpotCheck)
            .where(SpotCheck.comment_id.in_(redrawn), SpotCheck.verdict.is_(None))
            .execution_options(synchronize_session=False)
        )
    if rows:
        db.session.execute(_spot_check_insert(), rows)


# --- the verdicts: replaying a comment's audit events -----------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A person's decision in force on a comment, and what kind of evidence it is (None: none)."""

    action: str  # DecisionAction
    source: str | None
    at: datetime
    decider_type: str
    held_seconds: float | None
    entered: datetime | None  # when the comment entered the queue before it (restored by an undo)


@dataclass
class History:
    """A comment's story as the evidence reads it, from its audit events, oldest first."""

    machine: str | None = None  # the status the machine last gave it
    reported: bool = False  # readers reported it since
    entered: datetime | None = None  # when it entered the queue, not yet decided
    verdicts: list[Verdict] = field(default_factory=list)  # decisions in force, the last one last

    @property
    def verdict(self) -> Verdict | None:
        return self.verdicts[-1] if self.verdicts else None


def replay(events: Iterable[Any], history: History | None = None) -> History:
    """Apply audit events (objects or rows with ``action``, ``actor_type``, ``to_status``,
    ``created_at``), oldest first, to a comment's history."""
    history = history or History()
    for event in events:
        person = event.actor_type in DECIDERS
        if person and event.action in DECISION_ACTIONS:
            earlier = history.verdict
            if earlier is not None:
                source = earlier.source  # a different decision replaces the earlier, of the same kind
            elif history.machine == Status.HELD:
                source = EvidenceSource.HOLD.value
            elif history.machine == Status.PUBLISHED and history.reported:
                source = EvidenceSource.REPORT.value
            else:
                source = None
            if earlier is not None:  # the time it waited was before the first decision
                entered, waited = earlier.entered, earlier.held_seconds
            else:
                entered = history.entered
                waited = (event.created_at - entered).total_seconds() if entered is not None else None
            history.verdicts.append(Verdict(event.action, source, event.created_at, event.actor_type, waited, entered))
            history.entered = None
        elif person and event.action == UNDONE_ACTION:
            if history.verdicts:
                undone = history.verdicts.pop()
                if not history.verdicts:
                    history.entered = undone.entered
        elif event.action in REPORT_ACTIONS:
            history.reported = True
        elif not person and event.to_status in _MACHINE_MOVES:
            if event.to_status == Status.PENDING:
                history.reported = False  # a new text: reports were about the old one
            if event.to_status == Status.HELD and history.entered is None:
                history.entered = event.created_at
            history.machine = event.to_status
            history.verdicts.clear()
    return history


def _hold_labels(comment: Comment) -> set[str]:
    """The labels whose score held the comment (the classifier's hold reasons)."""
    return {
        str(r.get("label"))
        for r in comment.reasons or []
        if r.get("code") == "label_over_threshold" and r.get("effect") == "hold" and r.get("label")
    }


def evidence_rows(comment: Comment, history: History, check: SpotCheck | None) -> list[dict[str, Any]]:
    """The comment's evidence rows (one per scored label) for its history and spot check."""
    if not comment.scores:
        return []
    verdict = history.verdict
    common: dict[str, Any]
    if verdict is not None and verdict.source == EvidenceSource.HOLD:
        common = {
            "source": EvidenceSource.HOLD.value,
            "bad": verdict.action == DecisionAction.REJECTED,
            "weight": 1.0,
            "held_seconds": verdict.held_seconds,
            "decided_at": verdict.at,
            "decider_type": verdict.decider_type,
        }
    elif verdict is not None and verdict.source == EvidenceSource.REPORT and verdict.action == DecisionAction.REJECTED:
        common = {
            "source": EvidenceSource.REPORT.value,
            "bad": True,
            "weight": 1.0,
            "held_seconds": None,
            "decided_at": verdict.at,
            "decider_type": verdict.decider_type,
        }
    elif check is not None and check.verdict is not None and check.probability > 0:
        common = {
            "source": EvidenceSource.SPOT_CHECK.value,
            "bad": check.verdict == SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD,
            "weight": 1.0 / check.probability,
            "held_seconds": None,
            "decided_at": check.answered_at or utcnow(),
            "decider_type": check.answered_by_type or "moderator",
        }
    else:
        return []
    held_by = _hold_labels(comment) if common["source"] == EvidenceSource.HOLD else set()
    return [
        {
            "comment_id": comment.id,
            "label": label,
            "site_id": comment.site_id,
            "score": float(score),
            "bin": estimates.score_bin(score),
            "held_by_label": label in held_by,
            "model": comment.model_name,
            **common,
        }
        for label, score in sorted(comment.scores.items())
    ]


def _matters(event: Mapping[str, Any]) -> bool:
    if event.get("comment_id") is None or event.get("site_id") is None:
        return False
    if event["action"] in SPOT_CHECK_ACTIONS or event["action"] == EDITED_ACTION:
        return True
    return event["actor_type"] in DECIDERS and (event["action"] in DECISION_ACTIONS or event["action"] == UNDONE_ACTION)


def follow(
    events: Sequence[Mapping[str, Any]], comments: Mapping[int, Comment], earlier: Mapping[int, Sequence[Any]]
) -> None:
    """Bring the evidence up to date for audit rows about to be written (``audit._fields`` plus
    ``created_at``). ``comments`` are the events' comments in hand; ``earlier`` each comment's
    earlier events, oldest first, as ``figures.follow`` read them (it reads them for every
    decision and undo). Most events (everything but decisions, undos and spot checks) cost nothing."""
    relevant = [event for event in events if _matters(event) and event["comment_id"] in comments]
    if not relevant:
        return
    by_comment: dict[int, list[Mapping[str, Any]]] = {}
    for event in relevant:
        by_comment.setdefault(event["comment_id"], []).append(event)
    with db.session.no_autoflush:  # the comment in hand is written by its own unit of work
        for comment_id, new in sorted(by_comment.items()):
            comment = comments[comment_id]
            if any(e["action"] == EDITED_ACTION for e in new):
                # The hold or report verdict was on the old text; the new one waits for its own.
                db.session.execute(
                    delete(CalibrationEvidence)
                    .where(
                        CalibrationEvidence.comment_id == comment_id,
                        CalibrationEvidence.source != EvidenceSource.SPOT_CHECK.value,
                    )
                    .execution_options(synchronize_session=False)
                )
                continue
            check = db.session.get(SpotCheck, comment_id)
            if any(e["action"] in DECISION_ACTIONS or e["action"] == UNDONE_ACTION for e in new):
                history = replay(
                    [
                        *earlier.get(comment_id, ()),
                        *(AuditStep.of(e) for e in new),
                    ]
                )
                _put(comment_id, evidence_rows(comment, history, check))
            else:
                # A spot check answered (or its answer undone): it is the evidence unless a
                # decided hold or a rejected report already is (those stand over a sample's).
                kept = db.session.execute(
                    select(CalibrationEvidence.source).where(CalibrationEvidence.comment_id == comment_id).limit(1)
                ).scalar_one_or_none()
                if kept is None or kept == EvidenceSource.SPOT_CHECK:
                    _put(comment_id, evidence_rows(comment, History(), check))


def _put(comment_id: int, rows: list[dict[str, Any]]) -> None:
    db.session.execute(
        delete(CalibrationEvidence)
        .where(CalibrationEvidence.comment_id == comment_id)
        .execution_options(synchronize_session=False)
    )
    if rows:
        db.session.execute(CalibrationEvidence.__table__.insert(), rows)


# --- figures for the report and the metrics ---------------------------------------------------------


def spot_check_backlog(site_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Unanswered spot checks of comments still published, per site id (sites with none are left
    out); ``site_ids`` keeps those sites only (None: every site)."""
    query = (
        select(SpotCheck.site_id, func.count())
        .join(Comment, Comment.id == SpotCheck.comment_id)
        .where(SpotCheck.verdict.is_(None), Comment.status == Status.PUBLISHED.value)
        .group_by(SpotCheck.site_id)
    )
    if site_ids is not None:
        query = query.where(SpotCheck.site_id.in_(list(site_ids)))
    return {int(site_id): int(count) for site_id, count in db.session.execute(query).all()}
