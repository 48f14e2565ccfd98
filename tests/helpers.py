"""Shared test helpers: the one module tests import helpers from (fixtures live in conftest.py files)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from comments import transaction
from comments.services.scoring import ScoringRun, score_waiting


def score_batch(classifier: Any, ids: Sequence[int] | None = None, **options: Any) -> ScoringRun:
    """``score_waiting`` as a worker job runs it: one batch in the job's unit of work, committed."""
    with transaction.unit_of_work():
        return score_waiting(classifier, ids, **options)
