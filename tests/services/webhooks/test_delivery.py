"""The retry schedule and the tally of a delivery run (pure: no database, no app)."""

from __future__ import annotations

import random

import pytest

from comments.models import WebhookDelivery
from comments.services.webhooks.delivery import MAX_BACKOFF_SECONDS, DeliveryRun, backoff_seconds
from comments.services.webhooks.outbox import DELIVERED, FAILED, PENDING


class FixedRandom(random.Random):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("attempts, full", [(0, 30), (1, 30), (2, 60), (3, 120), (6, 960)])
def test_the_backoff_doubles_with_each_attempt_and_jitters_between_half_and_all(attempts, full):
    assert backoff_seconds(attempts, 30, FixedRandom(0.0)) == full / 2
    assert backoff_seconds(attempts, 30, FixedRandom(0.999999)) == pytest.approx(full, rel=1e-5)


def test_the_backoff_is_capped():
    assert backoff_seconds(40, 30, FixedRandom(0.999999)) == pytest.approx(MAX_BACKOFF_SECONDS, rel=1e-5)
    assert backoff_seconds(10_000, 30, FixedRandom(0.0)) == MAX_BACKOFF_SECONDS / 2


def test_without_a_generator_the_jitter_stays_in_range():
    for _ in range(200):
        assert 15 <= backoff_seconds(1, 30) <= 30


def test_a_run_counts_each_outcome_and_adds_up():
    run = DeliveryRun()
    for delivery_id, status in enumerate((DELIVERED, PENDING, FAILED, DELIVERED), start=1):
        run.count(WebhookDelivery(id=delivery_id, status=status))
    assert (run.delivered, run.retrying, run.failed, run.ids) == (2, 1, 1, [1, 2, 3, 4])
    total = DeliveryRun()
    total.add(run)
    total.add(run)
    assert (total.delivered, total.retrying, total.failed, len(total.ids)) == (4, 2, 2, 8)
