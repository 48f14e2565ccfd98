"""Dashboard fixtures: comments put in the queue by the real pipeline, a logged-in test client,
and, for the browser tests, the session's app served on localhost with headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comments.models import Comment
from comments.services.accounts import create_moderator
from comments.services.sites import create_site
from tests.helpers import PASSWORD, Dashboard, make_comment, set_settings


@pytest.fixture()
def held_comments(db, site) -> list[Comment]:
    """Two comments the classifier held (toxicity; insult and threat) and one a rule held."""
    set_settings(site, suspect_words=["crypto"])
    first = make_comment(
        site,
        "You are all idiots.",
        scores={"toxicity": 0.93, "insult": 0.41},
        author="Bob",
        title="Budget 2026",
        ip="192.0.2.5",
    )
    second = make_comment(
        site,
        "I will find you.",
        scores={"threat": 0.88, "insult": 0.75},
        author="Cid",
        title="Budget 2026",
        ip="192.0.2.6",
    )
    third = make_comment(site, "Buy crypto now", author="Dee", key="article-2", ip="192.0.2.7")
    for comment in (first, second, third):
        assert comment.status == "held", comment.reasons
    return [first, second, third]


@pytest.fixture()
def dashboard(client, moderator) -> Dashboard:
    board = Dashboard(client)
    assert board.login().status_code == 303
    return board


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture()
def other_site_moderator(app, db, site) -> Dashboard:
    """Logged in as a moderator of another site only (the site "other")."""
    create_site("other", ["https://other.example"])
    create_moderator("limited@other.example", PASSWORD, ["other"])
    db.session.commit()
    board = Dashboard(app.test_client())
    assert board.login("limited@other.example").status_code == 303
    return board


@pytest.fixture()
def page(browser, live_server) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose console errors and CSP reports fail the test."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    context.close()
