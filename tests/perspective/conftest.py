"""Fixtures: a site API key with the analyze scope, the analyze path's scorer on the test model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from comments.models import Site


@pytest.fixture()
def analyze_key(db: Any, site: Site) -> str:
    from comments.services.apikeys import issue_key

    _, key = issue_key(site, "coral", ["analyze"])
    db.session.commit()
    return key


@pytest.fixture()
def analyzer(app: Flask, classifier: Any, classifier_config: dict[str, Any]) -> Iterator[Any]:
    """The process's shared scorer over the session's test model (the suite's app has scoring off)."""
    from comments.tasks.analyzer import EXTENSION, SharedScorer

    previous = app.extensions.get(EXTENSION)
    app.extensions[EXTENSION] = scorer = SharedScorer(classifier_config, classifier)
    yield scorer
    app.extensions[EXTENSION] = previous
    scorer.stop()
