"""What every kind of worker does: score given ids, and sweep the database for the rest."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from comments import metrics, transaction
from comments.extensions import db
from comments.services.scoring import ScoringRun, score_waiting
from comments.tasks.holder import ClassifierHolder

log = logging.getLogger(__name__)


def _observe(run: ScoringRun) -> None:
    for outcome, count in run.outcomes.items():
        metrics.SCORED.labels(outcome).inc(count)
    if run.failed:
        metrics.SCORING_FAILURES.inc(run.failed)
    if run.scored or run.failed:
        metrics.SCORING_SECONDS.observe(run.seconds)


def score_ids(holder: ClassifierHolder, ids: Sequence[int], batch_size: int) -> ScoringRun:
    return _score_batch(holder, ids=ids, limit=max(batch_size, len(ids)))


def sweep(holder: ClassifierHolder, batch_size: int, grace_seconds: float, max_batches: int = 100) -> int:
    """Score comments that waited longer than ``grace_seconds`` (lost jobs, classifier outages)."""
    done = 0
    for _ in range(max_batches):
        run = _score_batch(holder, limit=batch_size, older_than_seconds=grace_seconds)
        done += run.scored
        if run.scored + run.failed + run.skipped < batch_size or run.scored == 0:
            break
    if done:
        log.info("sweep scored %d waiting comments", done)
    return done


def _score_batch(
    holder: ClassifierHolder, *, ids: Sequence[int] | None = None, limit: int, older_than_seconds: float = 0
) -> ScoringRun:
    """One scoring batch as the job's unit of work: its decisions are committed here, once for
    the batch (a failure rolls the whole batch back; its comments stay waiting for the sweep)."""
    classifier, error = holder.get()
    started = time.perf_counter()
    with transaction.unit_of_work():
        run = score_waiting(classifier, ids, limit=limit, older_than_seconds=older_than_seconds, load_error=error)
    if run.seconds:  # a batch that found comments: its time includes the commit
        run.seconds = time.perf_counter() - started
    _observe(run)
    db.session.remove()
    return run
