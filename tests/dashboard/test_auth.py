"""Dashboard login, session cookie, CSRF, throttling, and the moderation API's session support."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import LoginFailure, ModeratorToken, utcnow
from tests.helpers import CSRF_FIELD, PASSWORD, Dashboard


def _cookie_header(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("comments_session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_pages_need_a_login(client, db):
    response = client.get("/mod/?queue=held")
    assert response.status_code == 302
    assert response.location.startswith("/mod/login?next=")
    htmx = client.post("/mod/comments/1/decision", headers={"HX-Request": "true"})
    # No session, no CSRF token either: refused before anything else.
    assert htmx.status_code == 403


def test_htmx_requests_without_a_session_are_sent_to_login(client, db):
    response = client.get("/mod/counts", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/mod/login"


def test_login_sets_a_strict_http_only_cookie_and_rotates_the_session(client, moderator, db):
    board = Dashboard(client)
    before = client.get("/mod/login")
    pre_login_cookie = _cookie_header(before)
    pre_login_csrf = CSRF_FIELD.search(before.text).group(1)
    response = board.login()
    assert response.status_code == 303 and response.location == "/mod/"
    cookie = _cookie_header(response)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert cookie != pre_login_cookie
    assert board.csrf and board.csrf != pre_login_csrf  # a new CSRF token after login
    assert db.session.query(ModeratorToken).count() == 1
    # Logging in again revokes the token of the session it replaces.
    board.login()
    tokens = db.session.query(ModeratorToken).order_by(ModeratorToken.id).all()
    assert len(tokens) == 2 and tokens[0].revoked_at is not None and tokens[1].revoked_at is None


def test_the_cookie_is_secure_over_https(app, moderator, db):
    client = app.test_client()
    page = client.get("/mod/login", base_url="https://mod.example")
    token = CSRF_FIELD.search(page.text).group(1)
    response = client.post(
        "/mod/login",
        base_url="https://mod.example",
        data={"email": "mod@news.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert "Secure" in _cookie_header(response)


@pytest.mark.parametrize("email,password", [("mod@news.example", "wrong password"), ("nobody@news.example", PASSWORD)])
def test_failed_logins_get_one_uniform_error(client, moderator, email, password):
    response = Dashboard(client).login(email, password)
    assert response.status_code == 401
    assert "The email or password is not right." in response.text
    assert client.get("/mod/").status_code == 302  # still logged out


def test_repeated_failures_lock_the_account_for_that_address(client, db, moderator):
    board = Dashboard(client)
    for _ in range(5):
        assert board.login(password="wrong").status_code == 401
    locked = board.login()  # the right password, refused with the answer a stranger gets
    assert locked.status_code == 401
    assert "The email or password is not right." in locked.text
    db.session.query(LoginFailure).update({"locked_until": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert board.login().status_code == 303


def test_logins_per_address_are_rate_limited(app, client, moderator):
    board = Dashboard(client)
    statuses = [board.login(email=f"nobody{i}@news.example").status_code for i in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


def test_login_refuses_a_post_without_the_csrf_token(client, moderator):
    client.get("/mod/login")
    response = client.post("/mod/login", data={"email": "mod@news.example", "password": PASSWORD})
    assert response.status_code == 403
    assert "expired" in response.text
    assert client.get("/mod/").status_code == 302


def test_login_never_redirects_elsewhere(client, moderator):
    for target in ("https://evil.example/", "//evil.example/mod/", "/api/v1/", "/mod/\\evil"):
        page = client.get("/mod/login", query_string={"next": target})
        token = CSRF_FIELD.search(page.text).group(1)
        response = client.post(
            "/mod/login", data={"email": "mod@news.example", "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert response.location == "/mod/", target
        client.post("/mod/logout", data={"csrf_token": CSRF_FIELD.search(client.get("/mod/").text).group(1)})
    page = client.get("/mod/login?next=/mod/stats")
    token = CSRF_FIELD.search(page.text).group(1)
    response = client.post(
        "/mod/login",
        data={"email": "mod@news.example", "password": PASSWORD, "csrf_token": token, "next": "/mod/stats"},
    )
    assert response.location == "/mod/stats"


def test_logout_revokes_the_token_server_side(client, db, dashboard):
    stolen = client.get_cookie("comments_session").value
    response = dashboard.post("/mod/logout", htmx=False)
    assert response.status_code == 303
    assert db.session.query(ModeratorToken).one().revoked_at is not None
    client.set_cookie("comments_session", stolen)  # the old cookie, replayed
    assert client.get("/mod/").status_code == 302


def test_logout_needs_the_csrf_token(client, dashboard):
    assert dashboard.post("/mod/logout", htmx=False, csrf=False).status_code == 403
    assert client.get("/mod/").status_code == 200


def test_an_expired_token_ends_the_session(client, db, dashboard):
    db.session.query(ModeratorToken).update({"expires_at": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert client.get("/mod/").status_code == 302


def test_every_dashboard_post_needs_the_csrf_token(dashboard, held_comments):
    comment_id = held_comments[0].id
    posts = [
        (f"/mod/comments/{comment_id}/decision", {"action": "approve"}),
        (f"/mod/comments/{comment_id}/undo", {}),
        ("/mod/bulk", {"action": "approve", "selected": f"{comment_id}:2"}),
        ("/mod/sites/news/settings", {"threshold_toxicity": "0.5"}),
    ]
    for path, data in posts:
        assert dashboard.post(path, data, csrf=False).status_code == 403, path
        assert dashboard.post(path, {**data, "csrf_token": "forged"}).status_code == 403, path
    # The X-CSRF-Token header (what htmx sends) is accepted in place of the field.
    response = dashboard.client.post(
        f"/mod/comments/{comment_id}/decision",
        data={"action": "approve"},
        headers={"HX-Request": "true", "X-CSRF-Token": dashboard.csrf},
    )
    assert response.status_code == 200
    assert "Approved" in response.text


def test_dashboard_pages_carry_a_strict_content_security_policy(dashboard, held_comments):
    for path in (
        "/mod/",
        "/mod/login",
        f"/mod/comments/{held_comments[0].id}",
        "/mod/stats",
        "/mod/sites/news/settings",
    ):
        response = dashboard.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script>" not in response.text and " on" + "click=" not in response.text


# --- the moderation API with the dashboard's session ----------------------------------------------


def test_the_moderation_api_accepts_the_dashboard_session(dashboard, held_comments):
    client = dashboard.client
    queue = client.get("/api/v1/moderation/queue")
    assert queue.status_code == 200
    assert len(queue.json["items"]) == 3
    comment_id = held_comments[0].id
    url = f"/api/v1/moderation/comments/{comment_id}/decision"
    refused = client.post(url, json={"action": "approve"})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "csrf_failed"
    forged = client.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    accepted = client.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": dashboard.csrf})
    assert accepted.status_code == 200
    assert accepted.json["comment"]["status"] == "published"


def test_a_bad_bearer_token_is_not_rescued_by_the_session(dashboard):
    response = dashboard.client.get("/api/v1/moderation/queue", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_deleting_the_token_through_the_api_ends_the_dashboard_session(dashboard, db):
    client = dashboard.client
    assert client.delete("/api/v1/auth/token").status_code == 403  # no CSRF header
    assert client.delete("/api/v1/auth/token", headers={"X-CSRF-Token": dashboard.csrf}).status_code == 204
    assert db.session.query(ModeratorToken).one().revoked_at is not None
    assert client.get("/mod/").status_code == 302
