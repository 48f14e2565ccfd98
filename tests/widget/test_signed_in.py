"""Readers signed in by the host (SSO) in the widget, in headless Chromium: the token on the element,
CommentsEmbed.login()/logout(), the login-required event, sso-only sites, badges, refused authors."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import expect

from comments.models import Author, AuthorStatus, Comment, RevokedToken
from tests.helpers import SITE, Api, set_settings

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LOGIN_URL = "https://paper.example/login?next=comments"

# Records every login-required event the host page would see, on document and on the element, and
# cancels it (as a host that opens its own sign-in dialog does), so a sign-in link is not followed.
LISTEN = """window.heard = [];
document.addEventListener("comments:login-required", e => { window.heard.push("document:" + e.detail.reason); e.preventDefault(); });
document.addEventListener("DOMContentLoaded", () => document.getElementById("comments")
  .addEventListener("comments:login-required", e => window.heard.push("element:" + e.detail.reason)));"""


def sign(secret: str, user_id: str = "u-1", username: str = "Ann Reader", badges: Any = (), **claims: Any) -> str:
    """A host's token for its reader (Coral's claims), valid for an hour."""
    now = int(time.time())
    user = {"id": user_id, "username": username, "badges": list(badges)}
    return jwt.encode({"user": user, "iat": now, "exp": now + 3600, **claims}, secret, algorithm="HS256")


def comment(page: Any, text: str) -> Any:
    return page.locator("#comments article.main", has=page.locator(".body", has_text=text))


def heard(page: Any) -> list[str]:
    return page.evaluate("window.heard")


def calls(page: Any) -> list[Any]:
    """Every request the page makes to the comment API, as it goes out."""
    seen: list[Any] = []
    page.on("request", lambda request: "/api/v1/" in request.url and seen.append(request))
    return seen


@pytest.fixture()
def api(app, paper) -> Api:
    return Api(app.test_client(), SITE)


def test_a_signed_in_reader_posts_edits_and_deletes_with_the_token(reader, api, paper, sso_secret, db, tmp_path):
    set_settings(paper, identity="both")
    token = sign(sso_secret, badges=["Subscriber"], jti="page-view-1")
    api.post("Welcome, everyone.", "Maria")
    sent = calls(reader.page)
    page = reader.article(attrs=f'data-sso-token="{token}"')

    form = page.locator("#comments .new form")
    me = form.locator(".me")
    expect(me).to_contain_text("Signed in as")
    expect(me.locator(".author")).to_have_text("Ann Reader")
    expect(me.locator(".tag")).to_have_text("Subscriber")
    expect(me.get_by_role("button", name="Sign out")).to_be_visible()
    expect(form.locator("input")).to_have_count(0)  # no name, no email: the token says who
    form.locator("textarea").fill("Signed in, and *glad* to be.")
    _shot(page, tmp_path, "widget-signed-in.png")
    form.get_by_role("button", name="Post comment").click()

    mine = comment(page, "Signed in, and glad to be.")
    expect(mine.locator(".author")).to_have_text("Ann Reader")
    expect(mine.locator(".tag")).to_have_text("Subscriber")
    expect(mine.get_by_role("img", name="Verified account")).to_have_text("✓")
    db.session.expire_all()
    posted = db.session.query(Comment).filter(Comment.body.like("Signed in%")).one()
    assert (posted.author_name, posted.author_badges, posted.author_verified) == ("Ann Reader", ["Subscriber"], True)

    # The reader's own comment: edited and deleted as them.
    mine.get_by_role("button", name="Edit").click()
    mine.locator(".slot textarea").fill("Signed in, and edited.")
    mine.get_by_role("button", name="Save").click()
    expect(comment(page, "Signed in, and edited.")).to_be_visible()
    edited = comment(page, "Signed in, and edited.")
    edited.get_by_role("button", name="Delete").click()
    edited.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#comments .body", has_text="Signed in, and edited.")).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(Comment, posted.id).status == "deleted"

    # The token went in the Authorization header of the calls made as the reader, nowhere else.
    as_reader = {(r.method, r.url.split("/api/v1/")[1].split("?")[0]) for r in sent if "authorization" in r.headers}
    assert as_reader >= {
        ("GET", f"sites/{SITE}/identity"),
        ("POST", f"sites/{SITE}/threads/article-1/comments"),
        ("PATCH", f"comments/{posted.id}"),
        ("DELETE", f"comments/{posted.id}"),
    }
    assert {r.headers["authorization"] for r in sent if "authorization" in r.headers} == {f"Bearer {token}"}
    assert not [r for r in sent if r.method == "GET" and "/threads/" in r.url and "authorization" in r.headers]
    assert not [r.url for r in sent if token in r.url]
    assert token not in page.evaluate("JSON.stringify(localStorage)")
    _keep(tmp_path, "widget-signed-in.png")


def test_login_and_logout_from_the_host_page(reader, api, paper, sso_secret, db):
    set_settings(paper, identity="both")
    page = reader.page
    page.add_init_script(LISTEN)
    page = reader.article()
    form = page.locator("#comments .new form")
    expect(form.locator("input[name=name]")).to_be_visible()  # "both": the anonymous form...
    expect(form.get_by_role("button", name="Sign in to comment")).to_be_visible()  # ...and a way to sign in
    form.get_by_role("button", name="Sign in to comment").click()
    assert heard(page) == ["element:sign_in", "document:sign_in"]
    form.locator("textarea").fill("Half written, then I signed in.")

    token = sign(sso_secret, user_id="u-7", username="Bo Host", jti="page-view-7")
    page.evaluate("token => CommentsEmbed.login(token)", token)
    form = page.locator("#comments .new form")
    expect(form.locator(".me .author")).to_have_text("Bo Host")
    expect(form.locator("input[name=name]")).to_have_count(0)
    expect(form.locator("textarea")).to_have_value("Half written, then I signed in.")  # the text survives
    form.get_by_role("button", name="Post comment").click()
    expect(comment(page, "Half written, then I signed in.").locator(".author")).to_have_text("Bo Host")

    with page.expect_request(lambda r: r.url.endswith(f"/sites/{SITE}/sso/logout")) as logout:
        page.locator("#comments .me").get_by_role("button", name="Sign out").click()
    assert logout.value.headers["authorization"] == f"Bearer {token}"
    expect(page.locator("#comments .new input[name=name]")).to_be_visible()
    expect(page.locator("#comments .me .author")).to_have_count(0)
    # The token's jti is revoked: the token no longer signs anyone in.
    answer = api.client.get(f"/api/v1/sites/{SITE}/identity", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401 and answer.json["error"]["code"] == "invalid_token"
    db.session.expire_all()
    assert db.session.query(RevokedToken).count() == 1
    # Signed out, what they posted signed in is no longer this browser's to change (a shared computer).
    expect(comment(page, "Half written, then I signed in.").get_by_role("button", name="Edit")).to_have_count(0)
    assert page.evaluate("Object.keys(JSON.parse(localStorage.getItem('comments.v1.mine')))") == []

    # logout() from the host's own code does the same; with no token it is a no-op.
    page.evaluate("CommentsEmbed.logout()")
    expect(page.locator("#comments .new input[name=name]")).to_be_visible()


def test_an_sso_only_site_asks_readers_to_sign_in(reader, api, paper, sso_secret, db):
    api.post("Posted before the site went sso-only.", "Maria")
    set_settings(paper, identity="sso", sso_login_url=LOGIN_URL)
    page = reader.page
    page.add_init_script(LISTEN)
    page = reader.article()
    slot = page.locator("#comments .new")
    expect(slot.locator("form")).to_have_count(0)
    link = slot.get_by_role("link", name="Sign in to comment")
    expect(link).to_have_attribute("href", LOGIN_URL)
    link.click()  # the host's listener cancels the event: the page stays
    assert heard(page) == ["element:sign_in", "document:sign_in"]
    assert page.url.startswith(reader.host_origin)

    # Replying or reporting asks the host to sign the reader in instead.
    other = comment(page, "Posted before the site went sso-only.")
    other.get_by_role("button", name="Reply").click()
    other.get_by_role("button", name="Report").click()
    assert heard(page)[2:] == ["element:reply", "document:reply", "element:report", "document:report"]
    expect(other.locator(".slot form")).to_have_count(0)
    expect(other.get_by_role("menu")).to_be_hidden()

    page.evaluate("token => CommentsEmbed.login(token)", sign(sso_secret, username="Cy Reader"))
    expect(slot.locator("form .me .author")).to_have_text("Cy Reader")
    slot.locator("textarea").fill("Now I may.")
    slot.get_by_role("button", name="Post comment").click()
    expect(comment(page, "Now I may.")).to_be_visible()
    other.get_by_role("button", name="Report").click()
    other.get_by_role("menuitem", name="Spam").click()
    expect(other.get_by_role("button", name="Reported")).to_be_visible()

    page.evaluate("CommentsEmbed.logout()")
    expect(slot.get_by_role("link", name="Sign in to comment")).to_be_visible()
    expect(slot.locator("form")).to_have_count(0)


def test_without_a_login_url_the_sign_in_button_only_tells_the_host(reader, paper, db):
    set_settings(paper, identity="sso")
    reader.page.add_init_script(LISTEN)
    page = reader.article()
    page.locator("#comments .new").get_by_role("button", name="Sign in to comment").click()
    assert heard(page) == ["element:sign_in", "document:sign_in"]


def test_a_refused_token_is_dropped_and_the_host_told(reader, api, paper, sso_secret, db):
    set_settings(paper, identity="both")
    reader.page.add_init_script(LISTEN)
    forged = sign("sso_" + "x" * 43)  # signed with a secret that is not the site's
    page = reader.article(attrs=f'data-sso-token="{forged}"')
    expect(page.locator("#comments .new input[name=name]")).to_be_visible()  # anonymous, as it may be
    assert heard(page) == ["element:invalid_token", "document:invalid_token"]

    # A token that the service stops taking while the reader writes (revoked elsewhere): the post is
    # refused, the reader is asked to sign in again, the text stays.
    token = sign(sso_secret, jti="revoked-meanwhile")
    page.evaluate("token => CommentsEmbed.login(token)", token)
    expect(page.locator("#comments .me .author")).to_have_text("Ann Reader")
    gone = api.client.post(f"/api/v1/sites/{SITE}/sso/logout", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 204
    form = page.locator("#comments .new form")
    form.locator("textarea").fill("Sent with a revoked token.")
    form.get_by_role("button", name="Post comment").click()
    expect(form.locator(".error")).to_have_text("Your sign-in is no longer valid. Please sign in again.")
    expect(form.locator("textarea")).to_have_value("Sent with a revoked token.")
    expect(form.locator("input[name=name]")).to_be_visible()
    assert heard(page)[2:] == ["element:invalid_token", "document:invalid_token"]
    db.session.expire_all()
    assert db.session.query(Comment).count() == 0


def test_badges_and_the_verified_mark_are_text(reader, api, paper, sso_secret, db, tmp_path):
    def post_as(token: str, body: str, key: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        answer = api.client.post(api.thread_url(key), json={"body": body, "author_name": "ignored"}, headers=headers)
        assert answer.status_code == 201, answer.json

    staff = sign(sso_secret, user_id="staff-1", username="Dana Whitfield", badges=["Staff", "Subscriber"])
    post_as(staff, "Thanks for reading: the **correction** is in the second paragraph now.", "article-1")
    api.post("Which figure was wrong, the tram line's cost?", "Maria", key="article-1")
    page = reader.article("article-1")
    signed = comment(page, "Thanks for reading")
    expect(signed.locator(".author")).to_have_text("Dana Whitfield")
    expect(signed.locator(".tag")).to_have_text(["Staff", "Subscriber"])
    expect(signed.get_by_role("img", name="Verified account")).to_be_visible()
    expect(comment(page, "Which figure").locator(".tag, .ok")).to_have_count(0)  # anonymous: neither
    _shot(page, tmp_path, "widget-badge.png")

    hostile = sign(sso_secret, user_id="u-2", username="Dee <i>Editor</i>", badges=["<b>Editor</b>", "<img src=x>"])
    post_as(hostile, "Names and badges are text.", "article-2")
    page = reader.article("article-2")
    signed = comment(page, "Names and badges are text.")
    expect(signed.locator(".author")).to_have_text("Dee <i>Editor</i>")
    expect(signed.locator(".tag")).to_have_text(["<b>Editor</b>", "<img src=x>"])
    assert signed.locator(".meta i, .meta b, .meta img").count() == 0  # shown as text, never parsed
    _keep(tmp_path, "widget-badge.png")


@pytest.mark.parametrize("status", ["banned", "suspended"])
def test_a_banned_or_suspended_author_is_told_in_plain_words(reader, api, paper, sso_secret, db, status):
    from comments.services import readers
    from comments.services.audit import Actor
    from comments.transaction import unit_of_work

    token = sign(sso_secret, user_id="u-9", username="Ed Reader")
    first = api.client.post(api.thread_url(), json={"body": "Before."}, headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 201, first.json
    until = datetime.now(UTC) + timedelta(days=3) if status == "suspended" else None
    with unit_of_work():
        author = db.session.query(Author).filter_by(sso_user_id="u-9").one()
        readers.set_status(author, AuthorStatus(status), Actor("operator", "tests"), until=until, reason="tests")

    page = reader.article(attrs=f'data-sso-token="{token}"')
    form = page.locator("#comments .new form")
    form.locator("textarea").fill("After.")
    form.get_by_role("button", name="Post comment").click()
    if status == "banned":
        expect(form.locator(".error")).to_have_text("You can no longer comment on this site.")
    else:
        assert until is not None  # the date, in the reader's language and time zone (UTC here)
        expect(form.locator(".error")).to_have_text(
            re.compile(
                rf"^You cannot comment until {until:%A}, {until:%B} {until.day}, {until:%Y} at \d+:\d\d\s[AP]M\.$"
            )
        )
    expect(form.locator("textarea")).to_have_value("After.")


def _shot(page: Any, directory: Path, name: str) -> None:
    page.wait_for_timeout(100)
    page.locator("#comments").screenshot(path=str(directory / name))


def _keep(directory: Path, name: str) -> None:
    """The README's screenshots, written again with COMMENTS_SAVE_SCREENSHOTS=1."""
    if os.environ.get("COMMENTS_SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(directory / name, SCREENSHOTS / name)
