"""What every kind of worker does: score given ids, and sweep the database for the rest."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from comments.extensions import db
from comments.services.scoring import ScoringRun, score_waiting
from comments.tasks.holder import ClassifierHolder
from comments import metrics

log = logging.getLogger(__name__)


def _observe(run: ScoringRun) -> None:
    for outcome, count in run.outcomes.items():
        metrics.SCORED.labels(outcome).inc(count)
    if run.failed:
        metrics.SCORING_FAILURES.inc(run.failed)
    if run.scored or run.failed:
        metrics.SCORING_SECONDS.observe(run.seconds)


def score_ids(holder: ClassifierHolder, ids: Sequence[int], batch_size: int) -> ScoringRun:
    classifier, error = holder.get()
    run = score_waiting(classifier, ids, limit=max(batch_size, len(ids)), load_error=error)
    _observe(run)
    db.session.remove()
    return run


def sweep(holder: ClassifierHolder, batch_size: int, grace_seconds: float, max_batches: int = 100) -> int:
    """Score comments that waited longer than ``grace_seconds`` (lost jobs, classifier outages)."""
    done = 0
    for _ in range(max_batches):
        classifier, error = holder.get()
        run = score_waiting(classifier, limit=batch_size, older_than_seconds=grace_seconds, load_error=error)
        _observe(run)
        db.session.remove()
        done += run.scored
        if run.scored + run.failed + run.skipped < batch_size or run.scored == 0:
            break
    if done:
        log.info("sweep scored %d waiting comments", done)
    return done
