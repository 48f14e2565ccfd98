"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from comments.extensions import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        db.session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure means not ready; the reason is reported
        db.session.rollback()
        return f"database: {type(exc).__name__}"


def _check_redis() -> str | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        return None
    except redis.RedisError as exc:
        return f"redis: {type(exc).__name__}"


def _check_classifier() -> str | None:
    scoring = current_app.extensions.get("comments.scoring")
    if scoring is None:
        return None
    state = scoring.state
    return None if state in ("loaded", "workers") or state.startswith("workers:") else f"classifier: {state}"


@bp.get("/metrics")
def metrics():
    from comments import metrics as prometheus

    return Response(prometheus.render(), mimetype="text/plain; version=0.0.4")


@bp.get("/readyz")
def readyz():
    checks: dict[str, Any] = {"database": _check_database(), "redis": _check_redis(),
                              "classifier": _check_classifier()}
    problems = [problem for problem in checks.values() if problem]
    body = {"status": "ready" if not problems else "not_ready",
            "checks": {name: problem or "ok" for name, problem in checks.items()}}
    if current_app.config.get("REDIS_URL") is None:
        body["checks"]["redis"] = "not_configured"
    scoring = current_app.extensions.get("comments.scoring")
    if scoring is None:
        body["checks"]["classifier"] = "off"
    elif not checks["classifier"]:
        body["checks"]["classifier"] = scoring.state
    response = jsonify(body)
    if problems:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return response
