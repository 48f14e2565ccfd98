"""Prometheus counters and histograms: what this process did (scoring runs, submissions, webhook
deliveries, Redis failures). ``comments.ops`` serves them at /metrics, with the figures it reads
from the database at scrape time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# auto_describe off: describing the database collector (comments.ops) would query the database.
registry = CollectorRegistry(auto_describe=False)

SCORED = Counter("comments_scored_total", "Comments decided by the worker, by outcome", ["outcome"], registry=registry)
SCORING_FAILURES = Counter(
    "comments_scoring_failures_total", "Comments the classifier could not score", registry=registry
)
SCORING_SECONDS = Histogram(
    "comments_scoring_batch_seconds",
    "Time to score and decide one batch",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=registry,
)
WEBHOOK_ATTEMPTS = Counter(
    "comments_webhook_attempts_total",
    "Webhook delivery attempts by this process, by outcome (delivered, retrying, failed)",
    ["outcome"],
    registry=registry,
)
SUBMITTED = Counter(
    "comments_submitted_total", "Comments submitted through the API, by first status", ["status"], registry=registry
)
REDIS_ERRORS = Counter(
    "comments_redis_errors_total",
    "Redis calls by this process that failed, by use (rate_limits, scoring_queue)",
    ["use"],
    registry=registry,
)
REDIS_DEGRADED = Gauge(
    "comments_redis_degraded",
    "1 while this process runs a use of Redis on its fallback (Redis unreachable)",
    ["use"],
    registry=registry,
)
PERSPECTIVE_REQUESTS = Counter(
    "comments_perspective_requests_total",
    "Perspective-compatible API requests, by API key (its public prefix), method and HTTP status",
    ["key", "method", "code"],
    registry=registry,
)
PERSPECTIVE_SECONDS = Histogram(
    "comments_perspective_analyze_seconds",
    "Time the classifier took to score one comments:analyze request",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 5),
    registry=registry,
)
AUTO_CALIBRATION_RUNS = Counter(
    "comments_auto_calibration_runs_total",
    "Auto-calibration runs of sites by this process, by outcome (changed, unchanged, failed)",
    ["outcome"],
    registry=registry,
)
