"""Redis down under the public API, with a real redis-server killed (or hung) mid-test.

Redis only holds the rate limit counters here (in-process scoring): while it is down, reads,
posts and counts go on, limits count in this process's memory (still enforced), the outage is
logged once and counted in /metrics, /readyz says Redis is degraded, and once Redis answers again
the limits go back to it.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from comments.extensions import db as database
from comments.models import Comment
from tests.helpers import app_of_its_own


@pytest.fixture()
def redis_app(tmp_path, redis_server, db, own_limiter_storage, classifier, classifier_config):
    """The embedded shape with Redis for the limits, and a low post limit to see them hold."""
    from comments.tasks import ClassifierHolder
    from comments.tasks.inprocess import InProcessScoring

    application = app_of_its_own(
        tmp_path,
        "redis-down.db",
        SCORING_MODE="inprocess",
        REDIS_URL=redis_server.url,
        RATELIMIT_POST="4 per minute",
        RATELIMIT_READ="1000 per minute",
        **classifier_config,
    )
    scoring = InProcessScoring(application, ClassifierHolder(classifier_config, classifier))
    application.extensions["comments.scoring"] = scoring
    yield application
    scoring.stop()
    with application.app_context():
        database.engine.dispose()


THREAD = "/api/v1/sites/news/threads/a/comments"


def _post(client, body, ip="192.0.2.1"):
    return client.post(THREAD, json={"body": body, "author_name": "Ann"}, environ_base={"REMOTE_ADDR": ip})


def _metric(client, name):
    text = client.get("/metrics").get_data(as_text=True)
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)), None)


def _redis_warnings(caplog):
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("comments") and "Redis" in r.getMessage()
    ]


def test_reads_and_posts_go_on_while_redis_is_down(redis_app, redis_server, caplog):
    client = redis_app.test_client()
    assert client.get(THREAD).status_code == 200
    assert _post(client, "Posted while Redis is up.").status_code == 202

    redis_server.kill()
    caplog.set_level(logging.INFO)
    assert client.get(THREAD).status_code == 200
    assert client.get("/api/v1/sites/news/counts?keys=a").status_code == 200
    posted = [_post(client, f"Posted while Redis is down, number {i}.", ip="192.0.2.9") for i in range(4)]
    assert [response.status_code for response in posted] == [202] * 4
    # The limits still hold, counted in this process's memory.
    refused = _post(client, "One too many.", ip="192.0.2.9")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]

    redis_app.extensions["comments.scoring"].wait_idle()
    with redis_app.app_context():
        stored = {c.body: c.status for c in database.session.query(Comment)}
    assert len(stored) == 5 and set(stored.values()) == {"published"}  # stored, and scored

    assert len(_redis_warnings(caplog)) == 1  # once for the outage, not once per request
    assert _metric(client, 'comments_redis_errors_total{use="rate_limits"}') >= 1
    assert _metric(client, 'comments_redis_degraded{use="rate_limits"}') == 1
    ready = client.get("/readyz")
    assert ready.status_code == 200  # degraded, but serving: not to be taken out of rotation
    assert ready.json["status"] == "degraded"
    assert ready.json["degraded"] == ["redis"]
    assert ready.json["checks"]["redis"].startswith("down")
    assert ready.json["checks"]["database"] == "ok"

    redis_server.start()  # an empty Redis, as after a crash
    deadline = time.monotonic() + 40  # Flask-Limiter looks again after 1, 2, 4... seconds
    while _metric(client, 'comments_redis_degraded{use="rate_limits"}') != 0:
        assert time.monotonic() < deadline, "the limits never went back to Redis"
        assert client.get(THREAD).status_code == 200
        time.sleep(0.2)
    assert _post(client, "Posted after Redis came back.", ip="192.0.2.10").status_code == 202
    import redis

    with redis.Redis.from_url(redis_server.url) as direct:
        assert direct.keys("*comments*post*"), "the post limit counts in Redis again"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready" and ready.json["degraded"] == []
    assert any(
        "again" in r.getMessage()
        for r in _redis_warnings(caplog)
        + [r for r in caplog.records if "Redis" in r.getMessage() and r.levelno == logging.INFO]
    )


def test_a_hung_redis_delays_requests_by_seconds_not_forever(redis_app, redis_server):
    """A Redis that accepts connections but never answers (SIGSTOP) must not hang requests."""
    client = redis_app.test_client()
    assert client.get(THREAD).status_code == 200
    redis_server.hang()
    try:
        answers: list[tuple[int, float]] = []

        def read() -> None:
            started = time.monotonic()
            status = client.get(THREAD).status_code
            answers.append((status, time.monotonic() - started))

        for _ in range(3):
            reader = threading.Thread(target=read)
            reader.start()
            reader.join(10)
            assert not reader.is_alive(), "a request hung on Redis"
        assert [status for status, _ in answers] == [200] * 3
        # The first pays the 1 s read timeout twice (the call, then Flask-Limiter's health check).
        assert answers[0][1] < 3
        assert answers[1][1] < 0.5 and answers[2][1] < 0.5  # the limits are in memory now
        ready_started = time.monotonic()
        assert redis_app.test_client().get("/readyz").json["checks"]["redis"].startswith("down")
        assert time.monotonic() - ready_started < 3
    finally:
        redis_server.resume()


def test_failed_api_key_attempts_are_still_limited_while_redis_is_down(redis_app, redis_server):
    """The host API's key-guessing limit uses the limiter's store directly: it falls back too,
    rather than letting guesses through unlimited while Redis is down."""
    redis_app.config["RATELIMIT_API_KEY_FAILURES"] = "3 per minute"
    client = redis_app.test_client()
    redis_server.kill()
    bad = {"Authorization": "Bearer cmk_guess"}
    codes = [client.get("/api/v1/sites/news/threads", headers=bad).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert _metric(client, 'comments_redis_degraded{use="rate_limits"}') == 1
