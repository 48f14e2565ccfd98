"""Fixtures: app, db, client, a site, a logged-in moderator.

The suite runs on SQLite by default, and on PostgreSQL (+ Redis for rate limits) when
``COMMENTS_TEST_DATABASE_URL`` (and ``COMMENTS_TEST_REDIS_URL``) are set, as ``.ci/run`` does.
The schema is built once per run by the Alembic migrations, from an empty database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from comments import create_app
from comments.extensions import db as _db
from comments.limiting import limiter
from comments.models import Site

# Apps that tests create for themselves must not start webhook delivery threads polling their
# (often empty) databases; webhook tests deliver explicitly with tasks.outbox.drain.
os.environ.setdefault("COMMENTS_WEBHOOK_DELIVERY", "worker")

TEST_DATABASE_URL = os.environ.get("COMMENTS_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("COMMENTS_TEST_REDIS_URL")

ORIGIN = "https://news.example"


def _reset_postgres(url: str) -> None:
    """Drop everything in the public schema, so migrations run from empty."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_config(tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "HASH_KEY": "test-hash-key",
        "RATELIMIT_POST": "1000 per minute",
        "RATELIMIT_REPORT": "1000 per minute",
        "RATELIMIT_READ": "1000 per minute",
        "RATELIMIT_PREVIEW": "1000 per minute",
        "REDIS_URL": TEST_REDIS_URL,
        # Most tests are about the rules; the classifier's tests switch scoring on (tests/tasks).
        "SCORING_MODE": "off",
        # Webhook tests deliver explicitly (tasks.outbox.drain) instead of from a background thread.
        "WEBHOOK_DELIVERY": "worker",
    }
    if TEST_DATABASE_URL:
        config["DATABASE_URL"] = TEST_DATABASE_URL
    else:
        config["DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('db') / 'comments.db'}"
    config.update(overrides)
    return config


def app_of_its_own(tmp_path: Any, name: str, **config: Any) -> Flask:
    """An app with a configuration of the test's own (scoring on Redis, a Redis of its own...) on
    the suite's database (PostgreSQL) or a SQLite file of its own, migrated, with the site "news"."""
    from flask_migrate import upgrade

    from comments.services.sites import create_site

    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / name}"
    application = create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "HASH_KEY": "y", "TESTING": True,
                              "WEBHOOK_DELIVERY": "worker", **config})
    with application.app_context():
        upgrade()
        if _db.session.query(Site).filter_by(slug="news").first() is None:
            create_site("news", [])
            _db.session.commit()
    return application


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    if TEST_DATABASE_URL:
        _reset_postgres(TEST_DATABASE_URL)
    application = create_app(make_config(tmp_path_factory))
    application.instance_path = str(tmp_path_factory.mktemp("instance"))
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield application
    with application.app_context():
        _db.engine.dispose()


@pytest.fixture()
def db(app: Flask) -> Iterator[Any]:
    """A clean database for each test (tables emptied, not dropped: fast on both engines)."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        with _db.engine.begin() as conn:
            for table in reversed(_db.metadata.sorted_tables):
                conn.execute(table.delete())
        limiter.reset()
        app.extensions["comments.page_cache"].clear()


@pytest.fixture()
def client(app: Flask, db: Any) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def site(db: Any) -> Site:
    from comments.services.sites import create_site

    created, key = create_site("news", [ORIGIN, "http://localhost:9000"], name="News")
    db.session.commit()
    created.test_api_key = key  # type: ignore[attr-defined]
    return created


def set_settings(site: Site, **settings: Any) -> None:
    site.settings = {**(site.settings or {}), **settings}
    _db.session.commit()


@pytest.fixture()
def moderator(db: Any):
    """A moderator account (the dashboard session and bearer tokens arrive with the review queue)."""
    from comments.services.accounts import create_moderator

    account = create_moderator("mod@news.example", "correct horse battery", [])
    db.session.commit()
    return account


class Api:
    """Small helpers so tests read like the calls a widget makes."""

    def __init__(self, client: FlaskClient, site_slug: str = "news"):
        self.client = client
        self.site = site_slug

    def thread_url(self, key: str = "article-1") -> str:
        from urllib.parse import quote

        return f"/api/v1/sites/{self.site}/threads/{quote(key, safe='')}/comments"

    def post(self, body: str = "A thoughtful comment.", author: str = "Ann", key: str = "article-1",
             ip: str = "192.0.2.1", **extra: Any):
        payload = {"body": body, "author_name": author, **extra}
        return self.client.post(self.thread_url(key), json=payload, environ_base={"REMOTE_ADDR": ip})

    def read(self, key: str = "article-1", **params: Any):
        return self.client.get(self.thread_url(key), query_string=params)


@pytest.fixture()
def api(client: FlaskClient, site: Site) -> Api:
    return Api(client)


# --- the classifier -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def test_model(request: pytest.FixtureRequest):
    """The project's small Detoxify-format model, trained on the shipped sample.

    Training is deterministic, so the result is cached between runs (keyed by the sample and the
    builder's source): the second CI run, on PostgreSQL, reuses the first one's model.
    """
    import dataclasses
    import hashlib
    import inspect
    import json
    from pathlib import Path

    from comments.classifier import testmodel

    source = inspect.getsource(testmodel).encode()
    sample = Path(testmodel.__file__).parent.joinpath("data", "labelled_sample.tsv").read_bytes()
    key = hashlib.sha256(source + sample).hexdigest()[:16]
    directory = Path(request.config.cache.mkdir(f"test-model-{key}"))
    info_file = directory / "info.json"
    if info_file.exists():
        try:
            info = json.loads(info_file.read_text())
            info.update(checkpoint_path=Path(info["checkpoint_path"]), config_dir=Path(info["config_dir"]),
                        labels=tuple(info["labels"]))
            if info["checkpoint_path"].exists():
                return testmodel.TestModelInfo(**info)
        except (KeyError, TypeError, ValueError):
            pass  # a cache written by an older version of this fixture: build again
    built = testmodel.build_test_model(directory / "model")
    info_file.write_text(json.dumps(dataclasses.asdict(built), default=str))
    return built


@pytest.fixture(scope="session")
def classifier_config(test_model) -> dict[str, Any]:
    return {"CLASSIFIER_CHECKPOINT": str(test_model.checkpoint_path),
            "CLASSIFIER_CHECKPOINT_SHA256": test_model.sha256,
            "CLASSIFIER_CONFIG_DIR": str(test_model.config_dir),
            "CLASSIFIER_THREADS": 2}


@pytest.fixture(scope="session")
def classifier(classifier_config):
    """The real Detoxify loading path, offline, on the test model."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from comments.classifier import load_classifier

    return load_classifier(classifier_config)


@pytest.fixture()
def scoring(app: Flask, db: Any, classifier, classifier_config):
    """Scoring on, as in production: the in-process worker thread with the loaded test model."""
    from comments.tasks import ClassifierHolder
    from comments.tasks.inprocess import InProcessScoring

    holder = ClassifierHolder(classifier_config, classifier)  # loaded once per session, not per test
    worker = InProcessScoring(app, holder)
    previous = app.extensions.get("comments.scoring")
    app.extensions["comments.scoring"] = worker
    yield worker
    worker.wait_idle()
    worker.stop()
    app.extensions["comments.scoring"] = previous


class _HeldBack:
    """Scoring on, but nothing scores: posts stay pending until the test scores them."""

    enabled = True

    def __init__(self):
        self.ids: list[int] = []

    def enqueue(self, ids):
        self.ids.extend(ids)


@pytest.fixture()
def held_back(app):
    previous = app.extensions.get("comments.scoring")
    app.extensions["comments.scoring"] = queue = _HeldBack()
    yield queue
    app.extensions["comments.scoring"] = previous


# --- the browser ----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own download cannot work offline
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def chromium_or_skip() -> str:
    """Debian's Chromium for the browser tests: skipped where it is missing (``./manage test``
    installs it when it can), a failure where CI says the browser tests must run."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"browser tests need {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("COMMENTS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session's app on 127.0.0.1, a free port, in a thread (tests share its database)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium, one per test package: Playwright's sync API allows one running instance
    per thread, so each package's browser stops before the next package starts its own."""
    executable = chromium_or_skip()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- Redis faults -----------------------------------------------------------------------------

class RedisServer:
    """A real ``redis-server`` of the test's own (127.0.0.1, a free port, nothing persisted) that
    the test can kill, hang (SIGSTOP) and start again on the same port."""

    def __init__(self, directory: Any):
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import subprocess
        import time

        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2) as probe:
                    probe.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()  # SIGKILL: no goodbye to the clients, as in a crash
            self.process.wait(10)
            self.process = None

    def hang(self) -> None:
        """Stopped, not dead: connections are still accepted (by the kernel) but nothing answers."""
        import signal

        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        import signal

        self.process.send_signal(signal.SIGCONT)


@pytest.fixture()
def redis_server(tmp_path: Any) -> Iterator[RedisServer]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (apt-get install -y redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture()
def own_limiter_storage() -> Iterator[None]:
    """For tests that build an app of their own: the limiter is one object shared by every app,
    and ``init_app`` points it at the newest app's storage. Afterwards it points back at the
    session app's (a killed test Redis would otherwise fail every later test's ``limiter.reset``)."""
    saved = dict(vars(limiter))
    yield
    storage = limiter._storage
    vars(limiter).clear()
    vars(limiter).update(saved)
    if storage is not None and storage is not saved.get("_storage"):
        client = getattr(storage, "storage", None)
        if client is not None and hasattr(client, "close"):
            client.close()  # the redis client's connection pool: no unclosed sockets left behind
