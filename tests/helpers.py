"""Shared test helpers: the one module tests import helpers from (fixtures live in conftest.py files).

Grouped by what they serve: the suite's databases, posting through the API, the site settings, the
dashboard, the scoring pipeline, the browser and the widget's host pages, a Redis to break.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from comments import create_app, transaction
from comments.classifier.base import DETOXIFY_LABELS
from comments.extensions import db as _db
from comments.models import Comment, Site, utcnow
from comments.services import scoring, sso
from comments.services.audit import Actor
from comments.services.sites import update_settings
from comments.services.sso import Reader
from comments.services.submission import NewComment, submit

# --- the suite's databases --------------------------------------------------------------------

TEST_DATABASE_URL = os.environ.get("COMMENTS_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("COMMENTS_TEST_REDIS_URL")

ORIGIN = "https://news.example"


def reset_postgres(url: str) -> None:
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
    application = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "x",
            "HASH_KEY": "y",
            "TESTING": True,
            "WEBHOOK_DELIVERY": "worker",
            **config,
        }
    )
    with application.app_context():
        upgrade()
        if _db.session.query(Site).filter_by(slug="news").first() is None:
            create_site("news", [])
            _db.session.commit()
    return application


# --- posting through the API --------------------------------------------------------------------


class Api:
    """Small helpers so tests read like the calls a widget makes."""

    def __init__(self, client: FlaskClient, site_slug: str = "news"):
        self.client = client
        self.site = site_slug

    def thread_url(self, key: str = "article-1") -> str:
        return f"/api/v1/sites/{self.site}/threads/{quote(key, safe='')}/comments"

    def post(
        self,
        body: str = "A thoughtful comment.",
        author: str = "Ann",
        key: str = "article-1",
        ip: str = "192.0.2.1",
        **extra: Any,
    ):
        payload = {"body": body, "author_name": author, **extra}
        return self.client.post(self.thread_url(key), json=payload, environ_base={"REMOTE_ADDR": ip})

    def read(self, key: str = "article-1", **params: Any):
        return self.client.get(self.thread_url(key), query_string=params)


# --- single sign-on: what a host does for its signed-in readers ----------------------------------


def sso_token(secret: str, *, user: Any = None, lifetime: int = 600, **claims: Any) -> str:
    """A sign-in token as a host signs it for its reader: HS256, Coral Talk's claims. A claim given
    as None is left out (``iat=None, exp=None``: a token with neither)."""
    now = int(time.time())
    payload = {
        "user": {"id": "reader-1", "username": "Reader One"} if user is None else user,
        "iat": now,
        "exp": now + lifetime,
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


def new_sso_secret(site: Site) -> str:
    """The site's new SSO secret, as ``flask comments sso-secret`` issues it (committed)."""
    with transaction.unit_of_work():
        return sso.issue_secret(site, Actor("operator", "tests"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_jwt(secret: str, header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, digest: Any = None) -> str:
    """A token put together by hand (what ``jwt.encode`` would refuse to make): any header, any
    payload bytes, an HMAC signature (SHA-256 unless ``digest``)."""

    def part(value: dict[str, Any] | bytes) -> str:
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(payload)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), digest or hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


_DAY = 86400
_READER = {"id": "reader-1", "username": "Reader One"}

# Bad sign-in tokens, each with a part of the reason the 401 must give: (name, make(secret,
# another site's secret) -> token, reason). The service's and the API's tests both run all of them.
BAD_SSO_TOKENS: list[tuple[str, Any, str]] = [
    ("forged", lambda s, o: sso_token("sso_" + "x" * 43), "signature does not match"),
    ("another site's", lambda s, o: sso_token(o), "signature does not match"),
    ("expired", lambda s, o: sso_token(s, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "expired"),
    ("nbf in the future", lambda s, o: sso_token(s, nbf=int(time.time()) + 3600), "not valid yet"),
    (
        "iat in the future",
        lambda s, o: sso_token(s, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200),
        "not valid yet",
    ),
    ("alg none", lambda s, o: raw_jwt(s, {"alg": "none"}, {"user": _READER}).rsplit(".", 1)[0] + ".", "HS256"),
    (
        "alg HS512",
        lambda s, o: raw_jwt(s, {"alg": "HS512"}, {"user": _READER, "iat": int(time.time())}, hashlib.sha512),
        "HS256",
    ),
    ("alg RS256", lambda s, o: raw_jwt(s, {"alg": "RS256", "typ": "JWT"}, {"user": _READER}), "HS256"),
    ("no alg", lambda s, o: raw_jwt(s, {"typ": "JWT"}, {"user": _READER}), "HS256"),
    ("two parts", lambda s, o: sso_token(s).rsplit(".", 1)[0], "three parts"),
    ("four parts", lambda s, o: sso_token(s) + ".e30", "three parts"),
    ("bad base64", lambda s, o: "!!!.@@@.###", "not a JWT"),
    ("header not JSON", lambda s, o: raw_jwt(s, b"{alg: HS256", {"user": _READER}), "not a JWT"),
    ("header not an object", lambda s, o: raw_jwt(s, b'["HS256"]', {"user": _READER}), "not a JWT"),
    ("payload not JSON", lambda s, o: raw_jwt(s, {"alg": "HS256"}, b"{user: 1}"), "malformed"),
    ("claims not an object", lambda s, o: raw_jwt(s, {"alg": "HS256"}, b"[1, 2]"), "malformed"),
    ("over 8 KiB", lambda s, o: sso_token(s, padding="x" * 9000), "8192 bytes"),
    ("no user", lambda s, o: _without_user(s), "no user object"),
    ("user not an object", lambda s, o: sso_token(s, user="reader-1"), "no user object"),
    ("no user.id", lambda s, o: sso_token(s, user={"username": "Ann"}), "user.id"),
    ("empty user.id", lambda s, o: sso_token(s, user={"id": "", "username": "Ann"}), "user.id"),
    ("user.id a list", lambda s, o: sso_token(s, user={"id": [1], "username": "Ann"}), "user.id must be a string"),
    ("user.id over 255", lambda s, o: sso_token(s, user={"id": "u" * 256, "username": "Ann"}), "user.id"),
    ("no user.username", lambda s, o: sso_token(s, user={"id": "reader-1"}), "user.username"),
    (
        "username with a control character",
        lambda s, o: sso_token(s, user={"id": "reader-1", "username": "Ann\x07"}),
        "control characters",
    ),
    ("username with a newline", lambda s, o: sso_token(s, user={"id": "r", "username": "Ann\nB"}), "control"),
    ("username over 64", lambda s, o: sso_token(s, user={"id": "r", "username": "A" * 65}), "1–64 characters"),
    ("badges a string", lambda s, o: sso_token(s, user={**_READER, "badges": "staff"}), "user.badges"),
    ("badges an object", lambda s, o: sso_token(s, user={**_READER, "badges": {"a": 1}}), "user.badges"),
    ("badges false", lambda s, o: sso_token(s, user={**_READER, "badges": False}), "user.badges"),
    ("badge a number", lambda s, o: sso_token(s, user={**_READER, "badges": ["staff", 7]}), "user.badges"),
    ("badge too long", lambda s, o: sso_token(s, user={**_READER, "badges": ["b" * 33]}), "a badge"),
    ("badge empty", lambda s, o: sso_token(s, user={**_READER, "badges": [""]}), "a badge"),
    ("too many badges", lambda s, o: sso_token(s, user={**_READER, "badges": [f"b{i}" for i in range(11)]}), "at most"),
    ("url not http", lambda s, o: sso_token(s, user={**_READER, "url": "javascript:alert(1)"}), "user.url"),
    ("email not a string", lambda s, o: sso_token(s, user={**_READER, "email": 5}), "user.email"),
    (
        "issued over 30 days ago",
        lambda s, o: sso_token(s, iat=int(time.time()) - 31 * _DAY, exp=int(time.time()) + 3600),
        "30 days ago",
    ),
    ("expiring over 30 days ahead", lambda s, o: sso_token(s, exp=int(time.time()) + 31 * _DAY), "30 days ahead"),
    ("neither exp nor iat", lambda s, o: sso_token(s, iat=None, exp=None), "neither exp nor iat"),
    ("exp not a number", lambda s, o: raw_jwt(s, {"alg": "HS256"}, {"user": _READER, "exp": "soon"}), "malformed"),
    ("exp out of range", lambda s, o: raw_jwt(s, {"alg": "HS256"}, {"user": _READER, "exp": 1e300}), "out of range"),
    ("jti not a string", lambda s, o: sso_token(s, jti=12), "malformed"),
]


def _without_user(secret: str) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + 600}, secret, algorithm="HS256")


# --- site settings ------------------------------------------------------------------------------


def set_settings(site: Site, **settings: Any) -> None:
    """Change a site's settings through ``sites.update_settings``, the app's one writer (and commit).

    An unknown setting or a value the app would refuse raises ``services.errors.Invalid`` here
    (and nothing is changed), so a test cannot silently run on a setting that does not exist or the
    app could never hold.
    """
    with transaction.unit_of_work():  # the test owns this unit of work, as a view or command would
        update_settings(site, settings, Actor("operator", "tests"))


# --- the scoring pipeline and comments in the queue ---------------------------------------------


class FixedClassifier:
    """Scores from a table (text → scores): the scoring pipeline runs for real on known numbers."""

    name = "fixed"
    version = "test"
    labels = DETOXIFY_LABELS

    def __init__(self, table: dict[str, dict[str, float]]):
        # A misspelt label would otherwise score 0.01 and the test would run on numbers it never set.
        for body, scores in table.items():
            unknown = set(scores) - set(self.labels)
            if unknown:
                raise ValueError(f"{body!r}: {sorted(unknown)} are not labels of the classifier {self.labels}")
            if not all(0.0 <= value <= 1.0 for value in scores.values()):
                raise ValueError(f"{body!r}: scores are probabilities in [0, 1], not {scores}")
        self.table = table

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{label: self.table.get(text, {}).get(label, 0.01) for label in self.labels} for text in texts]


class HeldBackScoring:
    """Scoring on, but nothing scores: new comments wait as pending (as with a worker) until the
    test scores them; ``ids`` are the comments handed to scoring, in order."""

    enabled = True

    def __init__(self) -> None:
        self.ids: list[int] = []

    def enqueue(self, comment_ids: Iterable[int]) -> None:
        self.ids.extend(comment_ids)


def make_comment(
    site: Site,
    body: str,
    *,
    scores: dict[str, float] | None = None,
    author: str = "Ann",
    key: str = "article-1",
    title: str | None = None,
    parent_id: int | None = None,
    email: str | None = None,
    ip: str = "192.0.2.1",
    reader: Reader | None = None,
) -> Comment:
    """A comment through ``submission.submit`` and, with ``scores``, the classifier's path; with
    ``reader``, posted signed in (``signed_in``) as the host's token would have it."""
    new = NewComment(
        body=body,
        author_name=author,
        author_email=email,
        parent_id=parent_id,
        client_ip=ip,
        thread_title=title,
        thread_url=f"https://news.example/{key}" if title else None,
        reader=reader,
    )
    with transaction.unit_of_work():  # the test owns this unit of work, as the posting view would
        result = submit(site, key, new, HeldBackScoring() if scores is not None else None)
    comment_id = result.comment_id
    if scores is not None:
        score_batch(FixedClassifier({body: scores}), ids=[comment_id])
    return _db.session.get(Comment, comment_id)


def signed_in(user_id: str, username: str, badges: Sequence[str] = ()) -> Reader:
    """A reader as ``sso.verify_token`` returns one for a good token (no token needed: the posting
    rules are what is tested, not the token, which services/sso.py's own tests check)."""
    return Reader(
        user_id=user_id,
        username=username,
        email=None,
        badges=tuple(badges),
        role=None,
        url=None,
        jti=None,
        issued_at=utcnow(),
        expires_at=utcnow() + timedelta(hours=1),
    )


def score_batch(classifier: Any, ids: Sequence[int] | None = None, **options: Any) -> scoring.ScoringRun:
    """``score_waiting`` as a worker job runs it: one batch in the job's unit of work, committed."""
    with transaction.unit_of_work():
        return scoring.score_waiting(classifier, ids, **options)


# --- XSS payloads: the renderer's tests and the browser tests of every client -----------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](https://tracker.example/pixel.gif)",
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{display:none}</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '<a href="https://ok.example" onclick="alert(1)">ok</a>',
    '[ok](https://ok.example "title" onmouseover=alert(1))',
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "<!--<script>alert(1)</script>-->",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<base href=javascript:alert(1)//>",
    "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    '[x](https://ok.example/"onmouseover="alert(1))',
    "https://ok.example/<script>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "[x](//evil.example)",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
]


# --- the dashboard ------------------------------------------------------------------------------

PASSWORD = "correct horse battery"  # the ``moderator`` fixture's
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


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


# --- the browser --------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own download cannot work offline
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def chromium_or_skip() -> str:
    """Debian's Chromium for the browser tests: skipped where it is missing (``./manage test``
    installs it when it can), a failure where CI says the browser tests must run."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"browser tests need {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("COMMENTS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def browser_login(page: Any, email: str = "mod@news.example", password: str = PASSWORD) -> None:
    page.goto("/mod/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/mod/")


# --- the widget on host pages -------------------------------------------------------------------

SITE = "paper"  # the widget tests' site (the ``paper`` fixture)
ARTICLE_TEXT = (
    "After nine hours of debate the council passed the budget by a narrow margin. The libraries "
    "keep their weekend opening hours; the tram extension waits another year."
)


class HostPages:
    """The pages a host site serves: tests put HTML at a path, the browser fetches it."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def served(pages: HostPages) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), pages.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


class Browsing:
    """One browser context: what a reader sees, and everything that went wrong on the page."""

    def __init__(self, browser: Any, host_pages: HostPages, host_origin: str, service_url: str, **context: Any):
        self.context = browser.new_context(**{"viewport": {"width": 1000, "height": 900}, **context})
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.host_pages = host_pages
        self.host_origin = host_origin
        self.service_url = service_url
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def article(
        self,
        key: str = "article-1",
        *,
        origin: str | None = None,
        lang: str = "en",
        style: str = "",
        attrs: str = "",
        title: str = "City council agrees next year's budget",
    ) -> Any:
        """Open a host article page with the widget under it; wait until the thread is shown."""
        path = f"/{quote(key, safe='')}.html"
        self.host_pages.pages[path] = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body {{ font: 18px/1.6 Georgia, serif; max-width: 760px; margin: 24px auto; padding: 0 16px; }}
 h1 {{ line-height: 1.2; }} {style}</style></head>
<body><h1>{html.escape(title)}</h1><p>{ARTICLE_TEXT}</p>
<div id="comments" data-site="{SITE}" data-thread="{html.escape(key)}" data-title="{html.escape(title)}" {attrs}></div>
<script src="{self.service_url}/widget/embed.js" async></script></body></html>"""
        self.page.goto((origin or self.host_origin) + path)
        self.page.locator("#comments .root[data-state=ready], #comments .root[data-state=error]").wait_for()
        return self.page

    def listing(self, keys: list[str]) -> Any:
        links = "".join(f'<li><a href="/{quote(k)}" data-comments-count="{html.escape(k)}">…</a></li>' for k in keys)
        self.host_pages.pages["/index.html"] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"></head>
<body><ul>{links}</ul><script src="{self.service_url}/widget/count.js" data-site="{SITE}" async></script></body></html>"""
        self.page.goto(self.host_origin + "/index.html")
        return self.page

    def close(self) -> None:
        self.context.close()


# --- a Redis to break ---------------------------------------------------------------------------


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
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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


# --- answers against the OpenAPI document -----------------------------------------------------

_TYPES = {"integer": int, "number": (int, float), "string": str, "boolean": bool, "object": dict, "array": list}


def openapi_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: references followed, and a one-member allOf (a reference with a
    description beside it) merged."""
    while True:
        if "$ref" in schema:
            schema = {
                **{k: v for k, v in schema.items() if k != "$ref"},
                **spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]],
            }
        elif len(schema.get("allOf", ())) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **schema["allOf"][0]}
        else:
            return schema


def conforms(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """``value`` is what ``schema`` describes: types, no undeclared fields, null only where allowed."""
    schema = openapi_schema(spec, schema)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    if value is None:
        assert not kinds or "null" in kinds or schema.get("nullable"), f"{where}: null"
        return
    if kinds:
        allowed = tuple(_TYPES[k] for k in kinds if k != "null")
        assert isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed), (
            f"{where}: {value!r} is not {kinds}"
        )
    if isinstance(value, dict) and "properties" in schema:
        undeclared = set(value) - set(schema["properties"])
        assert not undeclared, f"{where}: {undeclared} not in the document"
        for key, item in value.items():
            conforms(spec, schema["properties"][key], item, f"{where}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            conforms(spec, schema["additionalProperties"], item, f"{where}[{key}]")
    elif isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            conforms(spec, schema["items"], item, f"{where}[{n}]")


def answer_conforms(client: Any, response: Any, path: str, method: str) -> None:
    """The answer is what the served OpenAPI document says ``method path`` answers with its status."""
    spec = client.get("/api/v1/openapi.json").json
    described = spec["paths"][path][method]["responses"][str(response.status_code)]
    conforms(spec, described["content"]["application/json"]["schema"], response.json, f"{method} {path}")
