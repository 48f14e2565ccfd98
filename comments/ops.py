"""Operations endpoints: liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from comments import metrics as prometheus
from comments.extensions import db
from comments.redis_health import CLIENT_OPTIONS
from comments.services.calibration.report import METRICS_DAYS, site_metrics
from comments.services.review.queue import queue_figures
from comments.services.webhooks.outbox import outbox_figures
from comments.tasks.analyzer import EXTENSION

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        db.session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure means not ready; the reason is reported
        db.session.rollback()
        return f"database: {type(exc).__name__}"


def _check_redis() -> str | None:
    """None when Redis answers and every use of it is back from its fallback."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis  # optional (the "redis" extra): only with REDIS_URL set, checked by create_app

    try:
        with redis.Redis.from_url(url, **CLIENT_OPTIONS) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"down ({type(exc).__name__})"
    on_fallback = current_app.extensions["comments.redis"].degraded
    if on_fallback:  # it answers, but these uses have not gone back to it yet
        return f"recovering ({', '.join(on_fallback)} still on the fallback)"
    return None


def _check_classifier() -> str | None:
    scoring = current_app.extensions.get("comments.scoring")
    if scoring is None:
        return None
    state = scoring.state
    # "unknown": in rq mode with Redis down the workers cannot be counted; they still score
    # (their sweeps read the database), and Redis is reported as degraded.
    ready = state == "loaded" or state.startswith(("workers:", "unknown"))
    return None if ready else f"classifier: {state}"


def _check_analyzer() -> str | None:
    """rq mode only (in-process, the classifier check is the same model): the web process's model,
    which serves analyze calls alone. None where it does not matter: scoring on another mode, or
    no key has asked for it yet ("not_loaded": no active key with the analyze scope when the
    process started, and no analyze call since)."""
    if current_app.config["SCORING_MODE"] != "rq":
        return None
    scorer = current_app.extensions.get(EXTENSION)
    state = getattr(scorer, "state", None)
    return state if isinstance(state, str) else None


class DatabaseCollector(Collector):
    """Comments by status, review queue depth, the oldest held item's age and the webhook outbox,
    read from the database at scrape time: right however many processes there are."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = queue_figures()
        by_status = GaugeMetricFamily("comments_by_status", "Comments by status", labels=["status"])
        for status, count in sorted(figures.by_status.items()):
            by_status.add_metric([status], count)
        yield by_status
        depth = GaugeMetricFamily("moderation_queue_depth", "Items waiting in each review queue", labels=["queue"])
        for name, count in sorted(figures.queue_depth.items()):
            depth.add_metric([name], count)
        yield depth
        yield GaugeMetricFamily(
            "moderation_oldest_held_seconds",
            "Age of the oldest comment waiting for review",
            value=figures.oldest_held_seconds,
        )
        pending, oldest = outbox_figures()
        yield GaugeMetricFamily("webhook_outbox_pending", "Webhook deliveries waiting to be delivered", value=pending)
        yield GaugeMetricFamily(
            "webhook_outbox_oldest_pending_seconds", "Age of the oldest webhook delivery still waiting", value=oldest
        )
        yield from _calibration_families()


def _calibration_families() -> Iterator[GaugeMetricFamily]:
    """Per site: the share of the machine's decided holds that moderators rejected, and the spot
    checks waiting (services.calibration)."""
    precision = GaugeMetricFamily(
        "comments_hold_precision",
        f"Share of the machine's holds decided in the last {METRICS_DAYS} days that a moderator or host "
        "rejected (sites with decided holds only)",
        labels=["site"],
    )
    decided = GaugeMetricFamily(
        "comments_holds_decided", f"The machine's holds decided in the last {METRICS_DAYS} days", labels=["site"]
    )
    backlog = GaugeMetricFamily("comments_spot_check_backlog", "Spot checks waiting for an answer", labels=["site"])
    for figures in site_metrics():
        decided.add_metric([figures.site_slug], figures.holds_decided)
        if figures.holds_decided:
            precision.add_metric([figures.site_slug], figures.holds_rejected / figures.holds_decided)
        backlog.add_metric([figures.site_slug], figures.spot_check_backlog)
    yield precision
    yield decided
    yield backlog


prometheus.registry.register(DatabaseCollector())


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(prometheus.registry), mimetype="text/plain; version=0.0.4")


@bp.get("/readyz")
def readyz() -> Response:
    """200 while this process can serve, 503 (with the reason) while it cannot.

    The database and the classifier are needed. Redis only carries hints (the database is the
    truth): with Redis down, limits count per process and new comments wait for the sweep, so the
    answer stays 200 with ``"status": "degraded"`` and ``"degraded": ["redis"]``: a 503 would
    have every web process taken out of rotation, turning a degraded service into an outage.
    In rq mode ``checks.analyzer`` is the web process's own model (analyze calls only): while it
    loads or after it failed, ``"analyzer"`` is degraded, for the same reason.
    """
    problems = {"database": _check_database(), "classifier": _check_classifier()}
    redis_problem = _check_redis()
    degraded = ["redis"] if redis_problem else []
    analyzer = _check_analyzer()
    if analyzer is not None and (analyzer == "loading" or analyzer.startswith("failed")):
        # Comments are served; analyze calls answer 503 meanwhile: degraded, not out of rotation.
        degraded.append("analyzer")
    failed = [problem for problem in problems.values() if problem]
    status = "not_ready" if failed else "degraded" if degraded else "ready"
    checks: dict[str, Any] = {
        "database": problems["database"] or "ok",
        "redis": redis_problem or "ok",
        "classifier": problems["classifier"] or "ok",
    }
    if current_app.config.get("REDIS_URL") is None:
        checks["redis"] = "not_configured"
    if analyzer is not None:
        checks["analyzer"] = analyzer
    scoring = current_app.extensions.get("comments.scoring")
    if scoring is None:
        checks["classifier"] = "off"
    elif not problems["classifier"]:
        checks["classifier"] = scoring.state
    response = jsonify({"status": status, "checks": checks, "degraded": degraded})
    if failed:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response
