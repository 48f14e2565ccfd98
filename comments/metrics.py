"""Prometheus metrics at /metrics.

Counters and histograms count what this process did (scoring runs); the queue figures are read
from the database at scrape time, so they are right however many processes there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from comments.services.scoring import ScoringRun

# auto_describe off: describing would query the database at import time.
registry = CollectorRegistry(auto_describe=False)

SCORED = Counter("comments_scored_total", "Comments decided by the worker, by outcome",
                 ["outcome"], registry=registry)
SCORING_FAILURES = Counter("comments_scoring_failures_total",
                           "Comments the classifier could not score", registry=registry)
SCORING_SECONDS = Histogram("comments_scoring_batch_seconds", "Time to score and decide one batch",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=registry)
WEBHOOK_ATTEMPTS = Counter("comments_webhook_attempts_total",
                           "Webhook delivery attempts by this process, by outcome (delivered, retrying, failed)",
                           ["outcome"], registry=registry)
SUBMITTED = Counter("comments_submitted_total", "Comments submitted through the API, by first status",
                    ["status"], registry=registry)
REDIS_ERRORS = Counter("comments_redis_errors_total",
                       "Redis calls by this process that failed, by use (rate_limits, scoring_queue)",
                       ["use"], registry=registry)
REDIS_DEGRADED = Gauge("comments_redis_degraded",
                       "1 while this process runs a use of Redis on its fallback (Redis unreachable)",
                       ["use"], registry=registry)


def observe_scoring(run: ScoringRun) -> None:
    for outcome, count in run.outcomes.items():
        SCORED.labels(outcome).inc(count)
    if run.failed:
        SCORING_FAILURES.inc(run.failed)
    if run.scored or run.failed:
        SCORING_SECONDS.observe(run.seconds)


class DatabaseCollector(Collector):
    """Comments by status, review queue depth and the oldest held item's age, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from comments.services.review.queue import queue_figures

        figures = queue_figures()
        by_status = GaugeMetricFamily("comments_by_status", "Comments by status", labels=["status"])
        for status, count in sorted(figures.by_status.items()):
            by_status.add_metric([status], count)
        yield by_status
        depth = GaugeMetricFamily("moderation_queue_depth", "Items waiting in each review queue",
                                  labels=["queue"])
        for name, count in sorted(figures.queue_depth.items()):
            depth.add_metric([name], count)
        yield depth
        yield GaugeMetricFamily("moderation_oldest_held_seconds",
                                "Age of the oldest comment waiting for review",
                                value=figures.oldest_held_seconds)
        from comments.services.webhooks.outbox import outbox_figures

        pending, oldest = outbox_figures()
        yield GaugeMetricFamily("webhook_outbox_pending", "Webhook deliveries waiting to be delivered",
                                value=pending)
        yield GaugeMetricFamily("webhook_outbox_oldest_pending_seconds",
                                "Age of the oldest webhook delivery still waiting", value=oldest)


registry.register(DatabaseCollector())


def render() -> bytes:
    return generate_latest(registry)
