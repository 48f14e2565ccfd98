"""Scale-out scoring through Redis and `flask comments worker`, and what happens when parts fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comments import create_app
from comments.extensions import db as database
from comments.models import AuditEvent, Comment, Site
from tests.helpers import TEST_REDIS_URL, app_of_its_own

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs COMMENTS_TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[2]


def _post(client, n, prefix="A perfectly civil remark"):
    ids = []
    for i in range(n):
        response = client.post(
            "/api/v1/sites/news/threads/a/comments",
            json={"body": f"{prefix} number {i}", "author_name": f"R{i}"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"},
        )
        assert response.status_code == 202, response.json
        ids.append(response.json["comment"]["id"])
    return ids


def _statuses(app, ids):
    with app.app_context():
        database.session.expire_all()
        return {database.session.get(Comment, i).status for i in ids}


@needs_redis
def test_posts_are_enqueued_and_a_worker_decides_them(rq_app):
    from comments.tasks.rq import run_worker

    app, _ = rq_app
    ids = _post(app.test_client(), 3)
    with app.app_context():
        assert app.extensions["comments.scoring"].queue.count == 3
        run_worker(app, burst=True)
    assert _statuses(app, ids) == {"published"}


@needs_redis
def test_a_job_takes_the_jobs_queued_behind_it_into_its_batch(rq_app, monkeypatch):
    import comments.tasks.rq as rq_tasks

    app, _ = rq_app
    ids = _post(app.test_client(), 5)  # one job per post
    batches = []
    real_score_ids = rq_tasks.score_ids
    monkeypatch.setattr(
        rq_tasks,
        "score_ids",
        lambda holder, batch, size: batches.append(list(batch)) or real_score_ids(holder, batch, size),
    )
    app.config["SCORING_COMMENTS_PER_BATCH"] = 4
    app.config["SCORING_GRACE_SECONDS"] = 3600  # the burst's sweep leaves them to their jobs
    with app.app_context():
        rq_tasks.run_worker(app, burst=True)
        assert app.extensions["comments.scoring"].queue.count == 0
    assert batches == [ids[:4], ids[4:]]  # two forward passes, not five
    assert _statuses(app, ids) == {"published"}


@needs_redis
def test_duplicate_jobs_are_harmless(rq_app):
    from comments.tasks.rq import run_worker

    app, _ = rq_app
    ids = _post(app.test_client(), 2)
    with app.app_context():
        app.extensions["comments.scoring"].enqueue(ids)  # the same ids again
        run_worker(app, burst=True)
        assert database.session.query(AuditEvent).filter_by(action="scored").count() == 2
    assert _statuses(app, ids) == {"published"}


def test_redis_down_loses_no_comment(rq_app, caplog):
    from comments.tasks import ClassifierHolder
    from comments.tasks.rq import RQScoring
    from comments.tasks.sweep import sweep

    app, config = rq_app
    app.extensions["comments.scoring"] = RQScoring(create_app({**config, "REDIS_URL": "redis://127.0.0.1:1/0"}))
    ids = _post(app.test_client(), 2)  # answered 202 although Redis is unreachable
    assert "the sweep will take them" in caplog.text
    assert _statuses(app, ids) == {"pending"}
    with app.app_context():
        assert sweep(ClassifierHolder(app.config), batch_size=8, grace_seconds=0) == 2
    assert _statuses(app, ids) == {"published"}


def test_readyz_says_whether_workers_can_be_reached(rq_app):
    app, config = rq_app
    down = create_app({**config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = down.test_client().get("/readyz")
    # Degraded, not unready: posts are stored and workers' sweeps score them without Redis.
    assert response.status_code == 200
    assert response.json["status"] == "degraded" and response.json["degraded"] == ["redis"]
    assert response.json["checks"]["classifier"].startswith("unknown: Redis is down")
    with down.app_context():
        database.engine.dispose()


@needs_redis
@pytest.mark.slow
def test_a_killed_worker_process_loses_nothing(rq_app):
    """SIGKILL a real `flask comments worker` while it works; the next worker finishes the job."""
    app, config = rq_app
    ids = _post(app.test_client(), 40)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FLASK_APP": "wsgi"}
    env.update({f"COMMENTS_{k}": str(v) for k, v in config.items() if k not in ("TESTING",)})
    flask = [sys.executable, "-m", "flask"]
    worker = subprocess.Popen(
        [*flask, "comments", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180  # a loaded machine takes a while to load torch and the model
        while time.monotonic() < deadline and _statuses(app, ids) == {"pending"}:
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert "published" in _statuses(app, ids)  # it was working when it died
    finisher = subprocess.run(
        [*flask, "comments", "worker", "--burst"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert finisher.returncode == 0, finisher.stderr[-2000:]
    assert _statuses(app, ids) == {"published"}


@needs_redis
def test_a_worker_delivers_the_webhooks_of_what_it_decided(rq_app):
    """The web side stores the event with the change; `flask comments worker` delivers it."""
    from comments.services.audit import Actor
    from comments.services.webhooks.registration import create_webhook
    from comments.tasks.rq import run_worker
    from tests.api.test_webhooks import Receiver

    app, _ = rq_app
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    receiver = Receiver()
    try:
        with app.app_context():
            site = database.session.query(Site).filter_by(slug="news").one()
            create_webhook(site, receiver.url, ["comment.published"], "", Actor("host", "test"))
            database.session.commit()
        ids = _post(app.test_client(), 1)
        with app.app_context():
            run_worker(app, burst=True)
        assert _statuses(app, ids) == {"published"}
        assert [r["headers"]["X-Comments-Event"] for r in receiver.requests] == ["comment.published"]
    finally:
        receiver.close()


@pytest.fixture()
def rq_redis_app(tmp_path, redis_server, db, own_limiter_storage, classifier_config):
    """The scale-out shape with limits and queue on a real Redis of the test's own."""
    application = app_of_its_own(
        tmp_path,
        "rq-down.db",
        SCORING_MODE="rq",
        REDIS_URL=redis_server.url,
        SCORING_GRACE_SECONDS=0,
        **classifier_config,
    )
    yield application
    with application.app_context():
        database.engine.dispose()
    application.extensions["comments.scoring"].connection.close()


def test_redis_killed_mid_test_posts_are_stored_and_the_worker_sweep_scores_them(rq_redis_app, redis_server, caplog):
    """Redis killed between two posts: the posts after it are stored, the outage is logged once
    and counted, and a worker's sweep scores them; once Redis is back, posts are enqueued again."""
    import logging

    from comments.tasks.rq import run_worker

    app = rq_redis_app
    client = app.test_client()
    before = _post(client, 1, prefix="Posted while Redis is up")
    assert app.extensions["comments.scoring"].queue.count == 1

    redis_server.kill()  # the queued job dies with it (nothing persisted)
    caplog.set_level(logging.INFO)
    during = _post(client, 3, prefix="Posted while Redis is down")  # 202 each, not 500
    assert client.get("/api/v1/sites/news/threads/a/comments").status_code == 200
    assert client.get("/api/v1/sites/news/counts?keys=a").status_code == 200
    assert _statuses(app, before + during) == {"pending"}  # stored, and not published unscored
    queue_warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "scoring_queue" in r.getMessage()]
    assert len(queue_warnings) == 1  # once for the outage, not once per post
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'comments_redis_errors_total{use="scoring_queue"}' in metrics
    assert 'comments_redis_degraded{use="scoring_queue"} 1.0' in metrics
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["degraded"] == ["redis"]
    assert ready.json["checks"]["classifier"].startswith("unknown")

    # A worker's sweep needs only the database: it scores them with Redis still down.
    with app.app_context():
        run_worker(app, burst=True)
    assert _statuses(app, before + during) == {"published"}

    redis_server.start()
    app.extensions["comments.redis"].retry_seconds = 0  # not wait out the pause between tries
    after = _post(client, 1, prefix="Posted after Redis came back")
    assert app.extensions["comments.scoring"].queue.count == 1  # enqueued again
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'comments_redis_degraded{use="scoring_queue"} 0.0' in metrics
    with app.app_context():
        run_worker(app, burst=True)
    assert _statuses(app, after) == {"published"}


def test_a_job_still_scores_its_own_comments_when_redis_fails_while_it_takes_more(monkeypatch):
    import redis

    import comments.tasks.rq as rq_tasks

    class DeadRedis:
        def lpop(self, key):
            raise redis.ConnectionError("Connection refused")

    class RunningJob:
        origin = rq_tasks.QUEUE_NAME
        connection = DeadRedis()

    monkeypatch.setattr(rq_tasks, "get_current_job", lambda: RunningJob())
    assert rq_tasks._take_waiting_jobs(room=5) == []  # not an exception that fails the job unscored
