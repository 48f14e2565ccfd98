"""Dashboard fixtures: comments put in the queue by the real pipeline, a logged-in test client,
and, for the browser tests, the session's app served on localhost with headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest
from flask.testing import FlaskClient

from comments.classifier.base import DETOXIFY_LABELS
from comments.models import Comment, Site
from comments.services import scoring
from comments.services.submission import NewComment, submit

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class FixedClassifier:
    """Scores from a table (text → scores): the scoring pipeline runs for real on known numbers."""

    name = "fixed"
    version = "test"
    labels = DETOXIFY_LABELS

    def __init__(self, table: dict[str, dict[str, float]]):
        self.table = table

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{label: self.table.get(text, {}).get(label, 0.01) for label in self.labels} for text in texts]


class LaterScoring:
    """New comments wait as pending, as with a worker; the test scores them itself."""

    enabled = True

    def enqueue(self, comment_ids: Iterable[int]) -> None:
        pass


def make_comment(site: Site, body: str, *, scores: dict[str, float] | None = None, author: str = "Ann",
                 key: str = "article-1", title: str | None = None, parent_id: int | None = None,
                 email: str | None = None, ip: str = "192.0.2.1") -> Comment:
    """A comment through ``submission.submit`` and, with ``scores``, the classifier's path."""
    from comments.extensions import db

    new = NewComment(body=body, author_name=author, author_email=email, parent_id=parent_id, client_ip=ip,
                     thread_title=title, thread_url=f"https://news.example/{key}" if title else None)
    result = submit(site, key, new, LaterScoring() if scores is not None else None)
    comment_id = result.comment_id
    if scores is not None:
        scoring.score_waiting(FixedClassifier({body: scores}), ids=[comment_id])
    return db.session.get(Comment, comment_id)


@pytest.fixture()
def held_comments(db, site) -> list[Comment]:
    """Two comments the classifier held (toxicity; insult and threat) and one a rule held."""
    from tests.conftest import set_settings

    set_settings(site, suspect_words=["crypto"])
    first = make_comment(site, "You are all idiots.", scores={"toxicity": 0.93, "insult": 0.41},
                         author="Bob", title="Budget 2026", ip="192.0.2.5")
    second = make_comment(site, "I will find you.", scores={"threat": 0.88, "insult": 0.75},
                          author="Cid", title="Budget 2026", ip="192.0.2.6")
    third = make_comment(site, "Buy crypto now", author="Dee", key="article-2", ip="192.0.2.7")
    for comment in (first, second, third):
        assert comment.status == "held", comment.reasons
    return [first, second, third]


class Dashboard:
    """A test client logged in to the dashboard, with the session's CSRF token at hand."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.csrf = ""

    def login(self, email: str = "mod@news.example", password: str = PASSWORD):
        page = self.client.get("/mod/login", follow_redirects=True)  # the queue, when logged in already
        token = CSRF_FIELD.search(page.text).group(1)
        response = self.client.post("/mod/login", data={"email": email, "password": password, "csrf_token": token})
        if response.status_code == 303:
            self.refresh_csrf()
        return response

    def refresh_csrf(self) -> str:
        self.csrf = CSRF_FIELD.search(self.client.get("/mod/settings", follow_redirects=True).text).group(1)
        return self.csrf

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = True, csrf: bool = True):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(path, data=data, headers=headers)

    def decide(self, comment_id: int, action: str, **data: Any):
        return self.post(f"/mod/comments/{comment_id}/decision", {"action": action, **data})


@pytest.fixture()
def dashboard(client, moderator) -> Dashboard:
    board = Dashboard(client)
    assert board.login().status_code == 303
    return board


# --- the browser ------------------------------------------------------------------------------

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


def browser_login(page: Any, email: str = "mod@news.example", password: str = PASSWORD) -> None:
    page.goto("/mod/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/mod/")
