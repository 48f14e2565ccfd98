"""Signed-in readers through HTTP: the token in Authorization, every bad one a 401 that stores
nothing, the identity modes, the widget's identity and sign-out calls, the host's secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from comments.models import (
    AuditEvent,
    Author,
    AuthorName,
    AuthorStatus,
    Comment,
    Report,
    RevokedToken,
    SsoSecret,
    Thread,
    utcnow,
)
from tests.helpers import BAD_SSO_TOKENS, ORIGIN, bearer, set_settings, sso_token

STORED = (Comment, Author, AuthorName, Thread, Report, RevokedToken)


def _counts(db) -> dict[str, int]:
    return {m.__tablename__: db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in STORED}


@pytest.fixture()
def published(api):
    """A published anonymous comment, for the calls that take a comment id."""
    response = api.post("Something to talk about.", "Bob", ip="198.51.100.9")
    assert response.status_code == 201
    return response.json["comment"]["id"], response.json["edit_token"]


def _calls(api, comment_id: int) -> dict[str, Any]:
    """Every public call that reads a token: name → (method, url, json)."""
    return {
        "post": ("post", api.thread_url("article-2"), {"body": "Signed in.", "author_name": "Mallory"}),
        "reply": ("post", api.thread_url(), {"body": "A reply.", "author_name": "M", "parent_id": comment_id}),
        "report": ("post", f"/api/v1/comments/{comment_id}/reports", {"reason": "spam"}),
        "edit": ("patch", f"/api/v1/comments/{comment_id}", {"body": "changed"}),
        "delete": ("delete", f"/api/v1/comments/{comment_id}", None),
        "read one": ("get", f"/api/v1/comments/{comment_id}", None),
        "identity": ("get", f"/api/v1/sites/{api.site}/identity", None),
        "logout": ("post", f"/api/v1/sites/{api.site}/sso/logout", None),
    }


def _send(api, call, headers: dict[str, str]):
    method, url, body = call
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return getattr(api.client, method)(url, **kwargs)


# --- bad tokens: 401 with the reason, nothing stored, on every call -----------------------------


@pytest.mark.parametrize("make,reason", [(m, r) for _, m, r in BAD_SSO_TOKENS], ids=[n for n, _, _ in BAD_SSO_TOKENS])
def test_every_bad_token_is_a_401_that_stores_nothing(api, db, secret, other_secret, published, make, reason):
    token = make(secret, other_secret)
    comment_id, _ = published
    before = _counts(db)
    for name, call in _calls(api, comment_id).items():
        response = _send(api, call, bearer(token))
        assert response.status_code == 401, (name, response.status_code, response.json)
        error = response.json["error"]
        assert error["code"] == "invalid_token", name
        assert reason in error["message"], (name, error["message"])
        assert _counts(db) == before, name
    assert api.client.get(f"/api/v1/comments/{comment_id}").json["comment"]["body"] == "Something to talk about."


@pytest.mark.parametrize(
    "header,reason",
    [
        ("Basic dXNlcjpwYXNz", "Authorization: Bearer"),
        ("Bearer", "Authorization: Bearer"),
        ("Bearer    ", "Authorization: Bearer"),
        ("", "Authorization: Bearer"),
        ("Token abc.def.ghi", "Authorization: Bearer"),
        ("Bearer a b c", "three parts"),
    ],
)
def test_authorization_that_is_not_a_bearer_token_is_refused(api, db, secret, published, header, reason):
    before = _counts(db)
    for name, call in _calls(api, published[0]).items():
        response = _send(api, call, {"Authorization": header})
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "invalid_token"
        assert reason in response.json["error"]["message"]
    assert _counts(db) == before


def test_a_token_on_a_site_without_a_secret_is_refused(api, db):
    response = api.client.post(api.thread_url(), json={"body": "x"}, headers=bearer(sso_token("sso_" + "y" * 43)))
    assert response.status_code == 401 and "no SSO secret" in response.json["error"]["message"]
    assert _counts(db)["comments"] == 0


def test_a_signed_out_token_is_refused_and_stores_nothing(api, db, secret):
    token = sso_token(secret, jti="sess-9")
    assert api.client.post("/api/v1/sites/news/sso/logout", headers=bearer(token)).status_code == 204
    before = _counts(db)
    response = api.client.post(api.thread_url(), json={"body": "after sign-out"}, headers=bearer(token))
    assert response.status_code == 401
    assert "signed out" in response.json["error"]["message"]
    assert _counts(db) == before


# --- a good token ---------------------------------------------------------------------------


def test_a_token_on_an_anonymous_site_identifies_the_reader(api, db, secret):
    user = {"id": "u-77", "username": "Dana Reader", "badges": ["subscriber"], "email": "dana@example.org"}
    response = api.client.post(
        api.thread_url(),
        json={"body": "Signed in.", "author_name": "Someone Else", "author_email": "else@example.org"},
        headers=bearer(sso_token(secret, user=user)),
    )
    assert response.status_code == 201, response.json
    comment = response.json["comment"]
    assert comment["author_name"] == "Dana Reader"
    assert comment["author_badges"] == ["subscriber"] and comment["author_verified"] is True
    author = db.session.execute(select(Author)).scalar_one()
    assert (author.sso_user_id, author.name, author.verified) == ("u-77", "Dana Reader", True)
    assert author.email_hash is not None and "dana" not in author.email_hash
    read = api.read().json["comments"][0]
    assert (read["author_name"], read["author_badges"], read["author_verified"]) == (
        "Dana Reader",
        ["subscriber"],
        True,
    )


def test_an_anonymous_comment_has_no_badges_and_is_not_verified(api, secret):
    comment = api.post().json["comment"]
    assert comment["author_badges"] == [] and comment["author_verified"] is False


def test_the_same_reader_is_one_author_across_posts_and_name_changes(api, db, secret):
    for n, name in enumerate(("First Name", "Second Name", "Second Name")):
        token = sso_token(secret, user={"id": "u-1", "username": name})
        posted = api.client.post(api.thread_url(), json={"body": f"post {n} as {name}"}, headers=bearer(token))
        assert posted.status_code == 201
    author = db.session.execute(select(Author)).scalar_one()
    assert author.name == "Second Name"
    names = db.session.scalars(select(AuthorName.name).where(AuthorName.author_id == author.id)).all()
    assert sorted(names) == ["First Name", "Second Name"]
    assert (
        db.session.execute(select(func.count()).select_from(Comment).where(Comment.author_id == author.id)).scalar_one()
        == 3
    )


def test_a_signed_in_post_needs_no_author_name_and_an_anonymous_one_does(api, secret):
    signed_in = api.client.post(api.thread_url(), json={"body": "hi"}, headers=bearer(sso_token(secret)))
    assert signed_in.status_code == 201
    anonymous = api.client.post(api.thread_url(), json={"body": "hi"})
    assert anonymous.status_code == 422
    assert "author_name" in anonymous.json["error"]["fields"]


# --- modes ------------------------------------------------------------------------------------


def test_sso_mode_refuses_anonymous_posts_and_reports_but_reads_stay_public(api, db, site, secret, published):
    comment_id, _ = published
    set_settings(site, identity="sso")
    before = _counts(db)
    post = api.post("anonymous")
    assert post.status_code == 401 and post.json["error"]["code"] == "sign_in_required"
    reply = api.post("anonymous reply", parent_id=comment_id)
    assert reply.status_code == 401 and reply.json["error"]["code"] == "sign_in_required"
    report = api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"})
    assert report.status_code == 401 and report.json["error"]["code"] == "sign_in_required"
    assert _counts(db) == before
    assert api.read().status_code == 200 and len(api.read().json["comments"]) == 1
    assert api.client.get(f"/api/v1/comments/{comment_id}").status_code == 200
    assert api.client.get("/api/v1/sites/news/counts?keys=article-1").json["counts"] == {"article-1": 1}
    token = bearer(sso_token(secret))
    assert api.client.post(api.thread_url(), json={"body": "signed in"}, headers=token).status_code == 201
    assert (
        api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"}, headers=token).status_code
        == 202
    )


@pytest.mark.parametrize("mode", ["anonymous", "both"])
def test_anonymous_and_both_take_anyone_and_a_token(api, site, secret, mode):
    set_settings(site, identity=mode)
    assert api.post("anonymous").status_code == 201
    signed_in = api.client.post(api.thread_url(), json={"body": "signed"}, headers=bearer(sso_token(secret)))
    assert signed_in.status_code == 201 and signed_in.json["comment"]["author_verified"] is True


# --- the widget's identity call ---------------------------------------------------------------


def test_identity_without_a_token(api, site):
    set_settings(site, identity="both", sso_login_url="https://news.example/login")
    response = api.client.get("/api/v1/sites/news/identity")
    assert response.status_code == 200
    assert response.json == {"identity": "both", "sso_login_url": "https://news.example/login", "reader": None}
    assert "no-store" in response.headers["Cache-Control"]
    assert "Authorization" in response.headers["Vary"]


def test_identity_defaults(api):
    assert api.client.get("/api/v1/sites/news/identity").json == {
        "identity": "anonymous",
        "sso_login_url": None,
        "reader": None,
    }


def test_identity_with_a_token_names_the_reader_and_records_nothing(api, db, secret):
    token = sso_token(secret, user={"id": "u-5", "username": "Eve", "badges": ["staff"]})
    before = _counts(db)
    response = api.client.get("/api/v1/sites/news/identity", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["reader"] == {"name": "Eve", "badges": ["staff"], "status": "active", "until": None}
    assert _counts(db) == before


def test_identity_tells_a_suspended_reader_until_when(api, db, secret):
    token = bearer(sso_token(secret, user={"id": "u-6", "username": "Sus"}))
    assert api.client.post(api.thread_url(), json={"body": "first"}, headers=token).status_code == 201
    author = db.session.execute(select(Author)).scalar_one()
    author.status = AuthorStatus.SUSPENDED.value
    author.status_until = utcnow() + timedelta(days=2)
    db.session.commit()
    reader = api.client.get("/api/v1/sites/news/identity", headers=token).json["reader"]
    assert reader["status"] == "suspended" and reader["until"].endswith("Z")
    author.status_until = utcnow() - timedelta(minutes=1)  # run out: active again, nothing to lift
    db.session.commit()
    assert api.client.get("/api/v1/sites/news/identity", headers=token).json["reader"]["status"] == "active"


def test_identity_for_an_unknown_site_is_404(api):
    assert api.client.get("/api/v1/sites/nope/identity").status_code == 404


# --- signing out ------------------------------------------------------------------------------


def test_logout_revokes_the_jti_and_twice_is_fine(api, db, secret):
    token = sso_token(secret, jti="session-a")
    url = "/api/v1/sites/news/sso/logout"
    assert api.client.post(url, headers=bearer(token)).status_code == 204
    assert api.client.post(url, headers=bearer(token)).status_code == 204
    assert db.session.execute(select(func.count()).select_from(RevokedToken)).scalar_one() == 1
    refused = api.client.get("/api/v1/sites/news/identity", headers=bearer(token))
    assert refused.status_code == 401 and "signed out" in refused.json["error"]["message"]
    other = sso_token(secret, jti="session-b")  # the same reader on another device
    assert api.client.get("/api/v1/sites/news/identity", headers=bearer(other)).status_code == 200


def test_logout_without_jti_is_204_with_nothing_revoked(api, db, secret):
    assert api.client.post("/api/v1/sites/news/sso/logout", headers=bearer(sso_token(secret))).status_code == 204
    assert _counts(db)["revoked_sso_tokens"] == 0


def test_logout_without_a_token_is_a_401(api, secret):
    response = api.client.post("/api/v1/sites/news/sso/logout")
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"


def test_a_token_of_another_site_cannot_sign_out_here(api, db, secret, other_secret):
    response = api.client.post("/api/v1/sites/news/sso/logout", headers=bearer(sso_token(other_secret, jti="x")))
    assert response.status_code == 401
    assert _counts(db)["revoked_sso_tokens"] == 0


# --- CORS: the widget sends the token from the article's page ---------------------------------


def test_preflight_allows_the_authorization_header(api, secret):
    for url in ("/api/v1/sites/news/identity", "/api/v1/sites/news/sso/logout", api.thread_url()):
        response = api.client.options(
            url,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status_code == 204
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_identity_and_logout_answer_only_the_sites_origins(api, secret):
    token = bearer(sso_token(secret, jti="j"))
    allowed = api.client.get("/api/v1/sites/news/identity", headers={"Origin": ORIGIN, **token})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = {"Origin": "https://evil.example", **token}
    assert api.client.get("/api/v1/sites/news/identity", headers=foreign).status_code == 403
    assert api.client.post("/api/v1/sites/news/sso/logout", headers=foreign).status_code == 403
    assert api.client.get("/api/v1/sites/news/identity", headers=token).json["reader"] is not None  # not revoked


# --- the host's secret ------------------------------------------------------------------------


def test_the_host_gets_a_secret_then_rotates_it(api, db, site):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    url = "/api/v1/sites/news/sso/secret"
    first = api.client.post(url, headers=host)
    assert first.status_code == 201 and set(first.json) == {"secret"}
    token = sso_token(first.json["secret"])
    assert api.client.post(api.thread_url(), json={"body": "one"}, headers=bearer(token)).status_code == 201
    second = api.client.post(url, headers=host)
    assert second.status_code == 200 and second.json["secret"] != first.json["secret"]
    # The first keeps working (24 hours), the second works at once.
    assert api.client.post(api.thread_url(), json={"body": "two"}, headers=bearer(token)).status_code == 201
    newer = bearer(sso_token(second.json["secret"]))
    assert api.client.post(api.thread_url(), json={"body": "three"}, headers=newer).status_code == 201
    rows = db.session.scalars(select(SsoSecret.ciphertext)).all()
    assert len(rows) == 2 and not any(s in c for c in rows for s in (first.json["secret"], second.json["secret"]))
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso_secret_issued")).all()
    assert [e.actor_type for e in events] == ["host", "host"]


def test_the_secret_needs_the_sites_host_key(api, db, site, other_secret):
    url = "/api/v1/sites/news/sso/secret"
    assert api.client.post(url).status_code in (401, 403)
    assert api.client.post(url, headers={"Authorization": "Bearer cmk_guess"}).status_code in (401, 403)
    assert db.session.execute(select(func.count()).select_from(SsoSecret)).scalar_one() == 1  # the other site's
