"""Fixtures of the scoring tasks' tests."""

from __future__ import annotations

import pytest

from comments.extensions import db as database
from tests.helpers import TEST_REDIS_URL, app_of_its_own


@pytest.fixture()
def rq_app(tmp_path, classifier_config, db):
    """An app in the scale-out shape: scoring on Redis, workers apart."""
    config = {
        "SCORING_MODE": "rq",
        "REDIS_URL": TEST_REDIS_URL or "redis://127.0.0.1:1/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SCORING_GRACE_SECONDS": 0,
        **classifier_config,
    }
    application = app_of_its_own(tmp_path, "rq.db", **config)
    config = {
        key: application.config[key]
        for key in ("DATABASE_URL", "SECRET_KEY", "HASH_KEY", "TESTING", "WEBHOOK_DELIVERY", *config)
    }
    if TEST_REDIS_URL:
        application.extensions["comments.scoring"].queue.empty()
    yield application, config
    with application.app_context():
        database.engine.dispose()


@pytest.fixture()
def shared_scorer(classifier, classifier_config):
    """The process's shared scorer over the session's loaded test model."""
    from comments.tasks.analyzer import SharedScorer

    scorer = SharedScorer(classifier_config, classifier)
    yield scorer
    scorer.stop()
