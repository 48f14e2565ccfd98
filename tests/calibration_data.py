"""Simulated calibration data in the database, as the pipeline and the decisions would have left it.

The comments come from ``tests/simulation.py`` (the simulated site whose truth is known); this
module gives them times, a model and a decider, and writes, in bulk, what the service's tables
would hold about them (spec17: a score bin per label per scoring, an evidence row per label of a
comment with a human verdict, a spot check with its probability), without running the pipeline.
The same comments tallied by ``simulation.Tally`` are what the report's SQL must add up to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from comments.classifier.base import DETOXIFY_LABELS
from comments.extensions import db
from comments.models import CalibrationEvidence, Comment, ScoreBin, Site, SpotCheck, Thread
from comments.services.calibration import estimates
from comments.services.sites import effective_settings
from tests.simulation import SimulatedComment, Tally, evidence, generate, make_site

MODEL = "detoxify-original@test"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# How long after a comment its verdict came, for the verdicts that have no time of their own.
SPOT_CHECK_ANSWERED_AFTER = timedelta(hours=6)
REPORT_DECIDED_AFTER = timedelta(hours=12)
HOST_DECIDES_EVERY = 10  # every tenth verdict is a host key's


def comments(seed: int, n: int, thresholds: dict[str, float], **parameters: Any) -> list[SimulatedComment]:
    """``n`` simulated comments scored on every Detoxify label (the simulation's other defaults)."""
    labels = parameters.pop("labels", DETOXIFY_LABELS)
    labels = labels if isinstance(labels, dict) else list(labels)
    site = make_site(labels=labels, thresholds={label: thresholds[label] for label in labels}, **parameters)
    return list(generate(seed, n, site))


@dataclass
class Loaded:
    """What ``load`` wrote, for a test's expectations: per comment, its id and times."""

    comments: list[SimulatedComment] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    created: list[datetime] = field(default_factory=list)
    decided: list[datetime | None] = field(default_factory=list)

    def tally(self, thresholds: dict[str, float]) -> Tally:
        tally = Tally(thresholds)
        for comment in self.comments:
            tally.add(comment)
        return tally


def _thread(site: Site) -> int:
    found = db.session.execute(select(Thread.id).where(Thread.site_id == site.id, Thread.key == "sim")).scalar()
    if found is not None:
        return found
    thread = Thread(site_id=site.id, key="sim", title="Simulated")
    db.session.add(thread)
    db.session.flush()
    return thread.id


def _status(comment: SimulatedComment) -> str:
    if comment.held:
        if not comment.decided:
            return "held"
        return "rejected" if comment.rejected else "published"
    return "rejected" if comment.report_rejected else "published"


def decided_at(comment: SimulatedComment, created: datetime, end: datetime) -> datetime | None:
    """When the comment's verdict (the one its evidence row carries) was given."""
    if comment.held and comment.decided:
        assert comment.held_seconds is not None
        moment = created + timedelta(seconds=comment.held_seconds)
    elif comment.report_rejected:
        moment = created + REPORT_DECIDED_AFTER
    elif comment.spot_checked and comment.decided:
        moment = created + SPOT_CHECK_ANSWERED_AFTER
    else:
        return None
    return min(moment, end)


def load(
    site: Site,
    simulated: Iterable[SimulatedComment],
    thresholds: dict[str, float],
    *,
    n: int,
    start: datetime,
    end: datetime = NOW,
    model: str = MODEL,
    batch: int = 5000,
    keep: bool = True,
) -> Loaded:
    """Write ``n`` simulated comments, spread evenly from ``start`` to ``end``, and the score bins,
    evidence and spot checks the service would have kept about them. Flushes, does not commit.
    ``keep=False`` (the bench's million) returns only the count in ``ids``' place."""
    thread_id = _thread(site)
    first_id = (db.session.execute(select(func.max(Comment.id))).scalar() or 0) + 1
    loaded = Loaded()
    bins: dict[tuple[str, Any, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    comment_rows: list[dict[str, Any]] = []
    evidence_rows: list[dict[str, Any]] = []
    spot_rows: list[dict[str, Any]] = []
    span = end - start
    verdicts = 0

    def flush(final: bool = False) -> None:
        buffers = ((comment_rows, Comment), (evidence_rows, CalibrationEvidence), (spot_rows, SpotCheck))
        if not final and all(len(rows) < batch for rows, _ in buffers):
            return
        for rows, model_class in buffers:  # the comments first: the spot checks refer to them
            if rows:
                db.session.execute(model_class.__table__.insert(), rows)
                rows.clear()

    for index, comment in enumerate(simulated):
        comment_id = first_id + index
        created = start + span * (index / n)
        decided = decided_at(comment, created, end)
        comment_rows.append(
            {
                "id": comment_id,
                "site_id": site.id,
                "thread_id": thread_id,
                "author_name": "Sim",
                "author_key": f"sim-{comment_id % 997}",
                "body": "simulated",
                "body_html": "<p>simulated</p>",
                "body_fingerprint": "sim",
                "status": _status(comment),
                "reasons": [],
                "reason_codes": "",
                "scores": comment.scores,
                "max_score": max(comment.scores.values()),
                "model_name": model,
                "scored_at": created,
                "edit_nonce": "sim",
                "created_at": created,
                "updated_at": created,
                "decided_at": decided,
            }
        )
        for label, score in comment.scores.items():
            counts = bins[(label, created.date(), estimates.score_bin(score))]
            counts[0] += 1
            counts[1] += comment.held
            counts[2] += not comment.held
        rows = evidence(comment, thresholds)
        if rows:
            assert decided is not None
            verdicts += 1
            decider = "host" if verdicts % HOST_DECIDES_EVERY == 0 else "moderator"
            evidence_rows.extend(
                {
                    "comment_id": comment_id,
                    "label": row.label,
                    "site_id": site.id,
                    "score": row.score,
                    "bin": row.bin,
                    "source": row.source,
                    "bad": row.bad,
                    "weight": row.weight,
                    "held_by_label": row.held_by_label,
                    "held_seconds": row.held_seconds,
                    "model": model,
                    "decided_at": decided,
                    "decider_type": decider,
                }
                for row in rows
            )
        if comment.spot_checked:
            answered = comment.decided
            spot_rows.append(
                {
                    "comment_id": comment_id,
                    "site_id": site.id,
                    "probability": comment.spot_probability,
                    "band": comment.spot_band,
                    "created_at": created,
                    "verdict": ("should_have_been_held" if comment.rejected else "fine") if answered else None,
                    "answered_at": min(created + SPOT_CHECK_ANSWERED_AFTER, end) if answered else None,
                    "answered_by_type": "moderator" if answered else None,
                }
            )
        if keep:
            loaded.comments.append(comment)
            loaded.ids.append(comment_id)
            loaded.created.append(created)
            loaded.decided.append(decided)
        flush()
    flush(final=True)
    bin_rows = [
        {
            "site_id": site.id,
            "label": label,
            "day": day,
            "model": model,
            "bin": bin_,
            "scored": scored,
            "held": held,
            "published": published,
        }
        for (label, day, bin_), (scored, held, published) in sorted(bins.items())
    ]
    for offset in range(0, len(bin_rows), batch):
        db.session.execute(ScoreBin.__table__.insert(), bin_rows[offset : offset + batch])
    db.session.flush()
    return loaded


def load_simulation(
    site: Site,
    n: int,
    *,
    seed: int = 3,
    days: float = 60,
    end: datetime = NOW,
    model: str = MODEL,
    **parameters: Any,
) -> Loaded:
    """``n`` comments of a simulated site with the site's thresholds, over the ``days`` before ``end``."""
    thresholds = dict(effective_settings(site)["thresholds"])
    return load(
        site,
        comments(seed, n, thresholds, **parameters),
        thresholds,
        n=n,
        start=end - timedelta(days=days),
        end=end,
        model=model,
    )


def stream(seed: int, n: int, thresholds: dict[str, float], **parameters: Any) -> Iterator[SimulatedComment]:
    """The simulation's comments one at a time (the bench's million)."""
    site = make_site(labels=list(DETOXIFY_LABELS), thresholds=thresholds, **parameters)
    return generate(seed, n, site)
