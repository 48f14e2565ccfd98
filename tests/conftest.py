"""Fixtures: app, db, client, a site, a logged-in moderator.

The suite runs on SQLite by default, and on PostgreSQL (+ Redis for rate limits) when
``COMMENTS_TEST_DATABASE_URL`` (and ``COMMENTS_TEST_REDIS_URL``) are set, as ``.ci/run`` does.
The schema is built once per run by the Alembic migrations, from an empty database.
Helpers (functions, classes, constants) live in ``tests/helpers.py``; this file holds fixtures only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from comments import create_app
from comments.extensions import db as _db
from comments.limiting import limiter
from comments.models import Comment, Site
from comments.services import sso
from tests.helpers import (
    CHROMIUM_ARGS,
    ORIGIN,
    PASSWORD,
    TEST_DATABASE_URL,
    Api,
    HeldBackScoring,
    RedisServer,
    chromium_or_skip,
    make_comment,
    make_config,
    new_sso_secret,
    reset_postgres,
    set_settings,
)

# Apps that tests create for themselves must not start webhook delivery threads polling their
# (often empty) databases; webhook tests deliver explicitly with tasks.outbox.drain.
os.environ.setdefault("COMMENTS_WEBHOOK_DELIVERY", "worker")


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    if TEST_DATABASE_URL:
        reset_postgres(TEST_DATABASE_URL)
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
        sso.forget_secrets()  # the emptied tables' sites come back with the same ids


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


@pytest.fixture()
def moderator(db: Any):
    """A moderator account (the dashboard session and bearer tokens arrive with the review queue)."""
    from comments.services.accounts import create_moderator

    account = create_moderator("mod@news.example", PASSWORD, [])
    db.session.commit()
    return account


@pytest.fixture()
def api(client: FlaskClient, site: Site) -> Api:
    return Api(client)


@pytest.fixture()
def waiting(db: Any, site: Site) -> list[Comment]:
    """Three comments held for review (the site premoderates all), committed."""
    set_settings(site, premoderation="all")
    return [make_comment(site, f"waiting {i}", ip=f"192.0.2.{i}") for i in range(3)]


@pytest.fixture(autouse=True)
def seeded_spot_checks() -> Iterator[None]:
    """The spot checks' draw (1% of machine-published comments by default), seeded for every test:
    a run draws the same comments each time. Tests of the draw replace the sampler themselves."""
    import random

    from comments.services.calibration import evidence

    previous = evidence.sampler
    evidence.sampler = random.Random(17)
    yield
    evidence.sampler = previous


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
            info.update(
                checkpoint_path=Path(info["checkpoint_path"]),
                config_dir=Path(info["config_dir"]),
                labels=tuple(info["labels"]),
            )
            if info["checkpoint_path"].exists():
                return testmodel.TestModelInfo(**info)
        except (KeyError, TypeError, ValueError):
            pass  # a cache written by an older version of this fixture: build again
    built = testmodel.build_test_model(directory / "model")
    info_file.write_text(json.dumps(dataclasses.asdict(built), default=str))
    return built


@pytest.fixture(scope="session")
def classifier_config(test_model) -> dict[str, Any]:
    return {
        "CLASSIFIER_CHECKPOINT": str(test_model.checkpoint_path),
        "CLASSIFIER_CHECKPOINT_SHA256": test_model.sha256,
        "CLASSIFIER_CONFIG_DIR": str(test_model.config_dir),
        "CLASSIFIER_THREADS": 2,
    }


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


@pytest.fixture()
def held_back(app):
    previous = app.extensions.get("comments.scoring")
    app.extensions["comments.scoring"] = queue = HeldBackScoring()
    yield queue
    app.extensions["comments.scoring"] = previous


# --- the browser ----------------------------------------------------------------------------


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


@pytest.fixture()
def secret(site: Site) -> str:
    """The test site's SSO secret, as its host signs readers' tokens with it."""
    return new_sso_secret(site)


@pytest.fixture()
def other_secret(db: Any) -> str:
    """Another site's SSO secret: its tokens are not the test site's."""
    from comments.services.sites import create_site

    other, _ = create_site("other", [])
    db.session.commit()
    return new_sso_secret(other)
