"""Simulated calibration data, loaded into the database as the pipeline and the decisions would
have left it (comments, score bins, evidence, spot checks), and the same data binned in Python
for ``estimates`` directly: the report's SQL must give the numbers the pure functions give.

The tables' meaning is spec'd in ``services.calibration`` (score bins per scoring, one evidence
row per label of a comment with a human verdict, spot checks with their probability); this module
writes them directly, in bulk, without the pipeline (tests of the report and the bench).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from comments.classifier.base import DETOXIFY_LABELS
from comments.extensions import db
from comments.models import CalibrationEvidence, Comment, ScoreBin, Site, SpotCheck, Thread
from comments.services.calibration import estimates

MODEL = "detoxify-original@test"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class SimComment:
    """One machine-scored comment and what people said about it."""

    scores: dict[str, float]
    created_at: datetime
    held: bool  # the machine held it (some label at or over its threshold)
    bad: bool  # what a moderator would say (the simulation's truth about moderators)
    # The human verdict recorded, if any: source 'hold' | 'spot_check' | 'report', and bad or not.
    source: str | None = None
    verdict_bad: bool | None = None
    probability: float | None = None  # spot checks: the probability it was drawn with
    band: str = "far"
    spot_checked: bool = False  # drawn for a spot check (answered or not)
    decided_at: datetime | None = None
    held_seconds: float | None = None
    decider_type: str = "moderator"
    model: str = MODEL
    held_by: set[str] = field(default_factory=set)  # the labels at or over their thresholds


def simulate(
    n: int,
    thresholds: dict[str, float],
    *,
    seed: int = 1,
    now: datetime = NOW,
    days: int = 60,
    bad_share: float = 0.08,
    decided_share: float = 0.9,
    spot_check_rate: float = 0.05,
    answered_share: float = 0.8,
    reported_share: float = 0.3,
    moderator_error: float = 0.05,
    labels: Sequence[str] = DETOXIFY_LABELS,
) -> list[SimComment]:
    """``n`` comments over the last ``days`` days: bad ones score high on toxicity (and somewhat on
    the other labels), the machine holds at the thresholds, moderators decide most holds (with an
    error rate), spot checks sample the published ones, readers report some of the bad published."""
    rng = random.Random(seed)
    comments = []
    for i in range(n):
        bad = rng.random() < bad_share
        base = rng.betavariate(5, 2) if bad else rng.betavariate(1, 9)
        scores = {}
        for index, label in enumerate(labels):
            spread = 1.0 if index == 0 else 0.5 / index
            scores[label] = round(min(max(base * spread + rng.gauss(0, 0.05), 0.0), 1.0), 4)
        created_at = now - timedelta(seconds=rng.uniform(0, days * 86400))
        held_by = {label for label in labels if scores[label] >= thresholds[label]}
        comment = SimComment(scores, created_at, bool(held_by), bad, held_by=held_by)
        judged_bad = bad != (rng.random() < moderator_error)
        if comment.held:
            if rng.random() < decided_share:
                comment.source, comment.verdict_bad = "hold", judged_bad
                comment.held_seconds = rng.expovariate(1 / 3600)
                comment.decided_at = min(created_at + timedelta(seconds=comment.held_seconds), now)
                comment.decider_type = "host" if rng.random() < 0.1 else "moderator"
        else:
            probability, band = estimates.spot_check_probability(scores, thresholds, spot_check_rate)
            if probability > 0 and rng.random() < probability:
                comment.spot_checked, comment.probability, comment.band = True, probability, band
                if rng.random() < answered_share:
                    comment.source, comment.verdict_bad = "spot_check", judged_bad
                    comment.decided_at = min(created_at + timedelta(hours=rng.uniform(1, 48)), now)
            if bad and rng.random() < reported_share:
                # Reported and rejected: the report's row replaces a spot check's.
                comment.source, comment.verdict_bad = "report", True
                comment.decided_at = min(created_at + timedelta(hours=rng.uniform(1, 24)), now)
        comments.append(comment)
        del i
    return comments


def _thread(site: Site) -> int:
    found = db.session.execute(select(Thread.id).where(Thread.site_id == site.id, Thread.key == "sim")).scalar()
    if found is not None:
        return found
    thread = Thread(site_id=site.id, key="sim", title="Simulated")
    db.session.add(thread)
    db.session.flush()
    return thread.id


def load(site: Site, comments: Sequence[SimComment], *, batch: int = 5000, with_comments: bool = True) -> list[int]:
    """Write the simulated comments and everything the calibration tables would hold about them;
    returns the comments' ids (in the order given). Flushes, does not commit."""
    thread_id = _thread(site)
    first_id = (db.session.execute(select(func.max(Comment.id))).scalar() or 0) + 1
    ids = list(range(first_id, first_id + len(comments)))
    table = Comment.__table__
    if with_comments:
        for start in range(0, len(comments), batch):
            db.session.execute(
                table.insert(),
                [
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
                        "model_name": comment.model,
                        "scored_at": comment.created_at,
                        "edit_nonce": "sim",
                        "created_at": comment.created_at,
                        "updated_at": comment.created_at,
                        "decided_at": comment.decided_at,
                    }
                    for comment_id, comment in zip(ids[start : start + batch], comments[start : start + batch])
                ],
            )
    bins: dict[tuple[str, Any, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for comment in comments:
        for label, score in comment.scores.items():
            counts = bins[(label, comment.created_at.date(), comment.model, estimates.score_bin(score))]
            counts[0] += 1
            counts[1] += comment.held
            counts[2] += not comment.held
    rows = [
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
        for (label, day, model, bin_), (scored, held, published) in sorted(bins.items())
    ]
    for start in range(0, len(rows), batch):
        db.session.execute(ScoreBin.__table__.insert(), rows[start : start + batch])
    _insert(CalibrationEvidence, list(_evidence_rows(site, comments, ids)), batch)
    _insert(
        SpotCheck,
        [
            {
                "comment_id": comment_id,
                "site_id": site.id,
                "probability": comment.probability,
                "band": comment.band,
                "created_at": comment.created_at,
                "verdict": _spot_verdict(comment),
                "answered_at": comment.decided_at if comment.source == "spot_check" else None,
                "answered_by_type": "moderator" if comment.source == "spot_check" else None,
            }
            for comment_id, comment in zip(ids, comments, strict=True)
            if comment.spot_checked
        ]
        if with_comments
        else [],
        batch,
    )
    db.session.flush()
    return ids


def _status(comment: SimComment) -> str:
    if comment.source in ("hold", "report"):
        return "rejected" if comment.verdict_bad else "published"
    return "held" if comment.held else "published"


def _spot_verdict(comment: SimComment) -> str | None:
    if comment.source != "spot_check":
        return None
    return "should_have_been_held" if comment.verdict_bad else "fine"


def _evidence_rows(site: Site, comments: Sequence[SimComment], ids: Sequence[int]) -> Iterable[dict[str, Any]]:
    for comment_id, comment in zip(ids, comments, strict=True):
        if comment.source is None:
            continue
        assert comment.decided_at is not None and comment.verdict_bad is not None
        for label, score in comment.scores.items():
            yield {
                "comment_id": comment_id,
                "label": label,
                "site_id": site.id,
                "score": score,
                "bin": estimates.score_bin(score),
                "source": comment.source,
                "bad": comment.verdict_bad,
                "weight": 1 / comment.probability if comment.source == "spot_check" and comment.probability else 1.0,
                "held_by_label": comment.source == "hold" and label in comment.held_by,
                "held_seconds": comment.held_seconds if comment.source == "hold" else None,
                "model": comment.model,
                "decided_at": comment.decided_at,
                "decider_type": comment.decider_type,
            }


def _insert(model: Any, rows: list[dict[str, Any]], batch: int) -> None:
    for start in range(0, len(rows), batch):
        db.session.execute(model.__table__.insert(), rows[start : start + batch])


def label_data(
    comments: Sequence[SimComment], thresholds: dict[str, float], since: datetime
) -> dict[str, estimates.LabelData]:
    """The same comments binned in Python, straight from the simulation (not from the tables):
    what the report's SQL must add up to."""
    data = {label: estimates.LabelData.empty(thresholds[label]) for label in thresholds}
    for comment in comments:
        for label, score in comment.scores.items():
            item, b = data[label], estimates.score_bin(score)
            if comment.created_at.date() >= since.date():
                item.population[b] += 1
                item.held[b] += comment.held
                item.published[b] += not comment.held
            if comment.source is None or comment.decided_at is None or comment.decided_at < since:
                continue
            if comment.source == "hold":
                if comment.verdict_bad:
                    item.hold_bad[b] += 1
                else:
                    item.hold_fine[b] += 1
                if label in comment.held_by:
                    if comment.verdict_bad:
                        item.holds_by_label_bad += 1
                    else:
                        item.holds_by_label_fine += 1
            elif comment.source == "spot_check":
                assert comment.probability is not None
                weight = 1 / comment.probability
                if comment.verdict_bad:
                    item.sample_bad_w[b] += weight
                else:
                    item.sample_fine_w[b] += weight
                item.sample_w2[b] += weight * weight
                item.sample_n[b] += 1
            else:
                item.report_bad[b] += 1
    return data
