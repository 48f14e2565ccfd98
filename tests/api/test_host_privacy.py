"""Privacy requests through the host API, IP purges, and host decisions with a moderate-scoped key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from comments.models import AuditEvent, Author, AuthorName, Comment, CommentRevision, Report, Thread, utcnow
from comments.security import hash_email, hash_ip
from tests.helpers import set_settings

PRIVACY = "/api/v1/sites/news/privacy"


@pytest.fixture()
def host(site):
    return {"Authorization": f"Bearer {site.test_api_key}"}


@pytest.fixture()
def authored(api, site):
    """Ann (by email) wrote a root with a reply from Bo, a lone comment and a reply to Bo."""
    root = api.post("Ann's root", author="Ann", author_email="Ann@Example.org").json["comment"]["id"]
    bo = api.post("Bo replies", author="Bo", ip="192.0.2.9", parent_id=root).json["comment"]["id"]
    lone = api.post("Ann alone", author="Ann", author_email="ann@example.org", key="other").json["comment"]["id"]
    reply = api.post("Ann answers Bo", author="Ann", author_email="ann@example.org", parent_id=bo).json["comment"]["id"]
    return {"root": root, "bo": bo, "lone": lone, "reply": reply}


def test_export_by_email_finds_only_that_authors_comments(client, db, site, host, authored):
    response = client.post(f"{PRIVACY}/export", headers=host, json={"email": "ANN@example.org"})
    assert response.status_code == 200
    ids = [c["id"] for c in response.json["comments"]]
    assert ids == [authored["root"], authored["lone"], authored["reply"]]
    assert all(c["author_name"] == "Ann" for c in response.json["comments"])
    paged = client.post(f"{PRIVACY}/export?limit=2", headers=host, json={"email": "ann@example.org"}).json
    assert len(paged["comments"]) == 2 and paged["next_cursor"]
    assert db.session.query(AuditEvent).filter_by(action="privacy_export").count() == 2


def test_erase_removes_identity_and_text_and_keeps_tombstones_for_replies(client, db, api, site, host, authored):
    db.session.add(
        CommentRevision(
            comment_id=authored["lone"], body="old words", body_html="<p>old words</p>", written_at=utcnow()
        )
    )
    db.session.commit()
    response = client.post(f"{PRIVACY}/erase", headers=host, json={"email": "ann@example.org"})
    assert response.status_code == 200
    assert response.json == {"erased": 3, "removed": 2, "tombstoned": 1, "authors": 1}
    db.session.expire_all()
    assert db.session.get(Comment, authored["lone"]) is None
    assert db.session.get(Comment, authored["reply"]) is None
    tomb = db.session.get(Comment, authored["root"])
    assert tomb.status == "deleted" and tomb.body == "" and tomb.author_name == ""
    assert tomb.author_email_hash is None and tomb.ip_hash is None
    assert db.session.query(CommentRevision).count() == 0
    assert db.session.query(Comment).filter_by(author_email_hash=hash_email("ann@example.org")).count() == 0
    # readers see a tombstone with Bo's reply under it, nothing of Ann
    thread = api.read().json
    assert thread["comments"][0]["author_name"] is None and thread["comments"][0]["body"] is None
    assert [r["author_name"] for r in thread["comments"][0]["replies"]] == ["Bo"]
    assert thread["comments"][0]["replies"][0]["replies"] == []
    assert thread["thread"]["comment_count"] == 1
    assert db.session.query(Thread).filter_by(key="other").one().published_count == 0
    event = db.session.query(AuditEvent).filter_by(action="privacy_erased").one()
    assert event.actor_type == "host" and event.reasons[0]["removed"] == 2
    again = client.post(f"{PRIVACY}/erase", headers=host, json={"email": "ann@example.org"})
    assert again.json == {"erased": 0, "removed": 0, "tombstoned": 0, "authors": 0}


@pytest.mark.parametrize(
    "body", [{}, {"email": "not-an-email"}, {"email": "a@b.example", "extra": 1}, {"email": ["a@b.example"]}]
)
def test_privacy_requests_are_validated(client, site, host, body):
    for action in ("export", "erase"):
        assert client.post(f"{PRIVACY}/{action}", headers=host, json=body).status_code == 422


def test_privacy_requests_need_the_sites_key(client, db, site, authored):
    from comments.services.sites import create_site

    _other, key = create_site("other", [])
    db.session.commit()
    assert client.post(f"{PRIVACY}/erase", json={"email": "ann@example.org"}).status_code == 401
    response = client.post(
        f"{PRIVACY}/erase", headers={"Authorization": f"Bearer {key}"}, json={"email": "ann@example.org"}
    )
    assert response.status_code == 403
    assert db.session.query(Comment).count() == 4


# --- purge ------------------------------------------------------------------------------------


def test_purge_drops_old_ip_hashes_only(app, db, api, site):
    old = api.post("Old words", author="Old", ip="192.0.2.50").json["comment"]["id"]
    with_email = api.post("Old with email", author="Em", ip="192.0.2.51", author_email="em@example.org").json[
        "comment"
    ]["id"]
    new = api.post("New words", author="New", ip="192.0.2.52").json["comment"]["id"]
    api.client.post(
        f"/api/v1/comments/{new}/reports", json={"reason": "spam"}, environ_base={"REMOTE_ADDR": "192.0.2.60"}
    )
    long_ago = utcnow() - timedelta(days=100)
    db.session.query(Comment).filter(Comment.id.in_([old, with_email])).update({"created_at": long_ago})
    db.session.query(Report).update({"created_at": long_ago})
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["comments", "purge", "--ip-older-than", "90"])
    assert result.exit_code == 0, result.output
    assert "2 comments, 1 reports" in result.output
    db.session.expire_all()
    purged = db.session.get(Comment, old)
    assert purged.ip_hash is None and purged.author_key == "ip-purged"
    emailed = db.session.get(Comment, with_email)
    assert emailed.ip_hash is None and emailed.author_key == hash_email("em@example.org")
    assert db.session.get(Comment, new).ip_hash == hash_ip("192.0.2.52")
    assert db.session.query(Report).one().reporter_hash.startswith("purged:")
    assert db.session.query(AuditEvent).filter_by(action="ip_hashes_purged").count() == 1
    # the default comes from the setting
    again = app.test_cli_runner().invoke(args=["comments", "purge"])
    assert "older than 90 days: 0 comments, 0 reports" in again.output
    assert app.test_cli_runner().invoke(args=["comments", "purge", "--ip-older-than", "-1"]).exit_code != 0


# --- host decisions ---------------------------------------------------------------------------


@pytest.fixture()
def moderate_key(client, site, host):
    response = client.post(
        "/api/v1/sites/news/keys", headers=host, json={"label": "cms moderation", "scopes": ["moderate"]}
    )
    return {"Authorization": f"Bearer {response.json['api_key']}"}


def test_a_moderate_key_decides_on_its_own_site(client, db, api, site, moderate_key):
    set_settings(site, premoderation="all")
    held = api.post("Waiting").json["comment"]["id"]
    queue = client.get("/api/v1/moderation/queue", headers=moderate_key)
    assert queue.status_code == 200 and [i["comment"]["id"] for i in queue.json["items"]] == [held]
    decided = client.post(
        f"/api/v1/moderation/comments/{held}/decision",
        headers=moderate_key,
        json={"action": "approve", "reason": "fine"},
    )
    assert decided.status_code == 200 and decided.json["comment"]["status"] == "published"
    assert decided.json["comment"]["decided_at"]
    event = db.session.query(AuditEvent).filter_by(action="approved").one()
    assert event.actor_type == "host" and event.actor_id.startswith("key:cmk_")
    again = client.post(f"/api/v1/moderation/comments/{held}/decision", headers=moderate_key, json={"action": "reject"})
    assert again.status_code == 409
    assert again.json["error"]["current"]["decision"]["by"].startswith("key:cmk_")
    audit = client.get("/api/v1/moderation/audit", headers=moderate_key, query_string={"comment_id": held})
    assert audit.status_code == 200 and audit.json["events"][0]["actor"]["type"] == "host"


def test_a_moderate_key_cannot_touch_another_site(client, db, api, site, moderate_key):
    from comments.services.sites import create_site
    from comments.services.submission import NewComment, submit

    other, _ = create_site("other", [])
    db.session.commit()
    set_settings(other, premoderation="all")
    theirs = submit(other, "x", NewComment(body="elsewhere", author_name="Eve")).comment_id
    response = client.post(
        f"/api/v1/moderation/comments/{theirs}/decision", headers=moderate_key, json={"action": "approve"}
    )
    assert response.status_code == 403
    assert (
        client.get("/api/v1/moderation/queue", headers=moderate_key, query_string={"site": "other"}).status_code == 403
    )
    assert client.get("/api/v1/moderation/queue", headers=moderate_key).json["items"] == []


def test_a_host_only_key_cannot_moderate(client, api, site, host):
    set_settings(site, premoderation="all")
    held = api.post("Waiting").json["comment"]["id"]
    response = client.post(f"/api/v1/moderation/comments/{held}/decision", headers=host, json={"action": "approve"})
    assert response.status_code == 403 and response.json["error"]["code"] == "scope_missing"
    bad = client.get("/api/v1/moderation/queue", headers={"Authorization": "Bearer cmk_wrong"})
    assert bad.status_code == 401


# --- the command line -------------------------------------------------------------------------


def test_cli_adds_lists_and_revokes_keys(app, client, db, site):
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=["comments", "add-key", "news", "--label", "cms", "--scope", "host", "--scope", "moderate"]
    )
    assert added.exit_code == 0, added.output
    key = added.output.rsplit(": ", 1)[1].strip()
    assert "scopes: host, moderate" in added.output
    listed = runner.invoke(args=["comments", "list-keys", "news"]).output
    assert "cms" in listed and key[:12] in listed
    assert client.get("/api/v1/sites/news/threads", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    revoked = runner.invoke(args=["comments", "revoke-key", "news", key[:12]])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/sites/news/threads", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    last = runner.invoke(args=["comments", "revoke-key", "news", site.api_keys[0].prefix])
    assert last.exit_code != 0 and "last key" in last.output
    assert runner.invoke(args=["comments", "revoke-key", "news", "nope"]).exit_code != 0


def test_purge_forgets_old_finished_webhook_deliveries(app, db, site):
    from comments.models import Webhook, WebhookDelivery

    hook = Webhook(site_id=site.id, url="https://hooks.example.com/", events=["comment.held"], secret="whsec_x")
    db.session.add(hook)
    db.session.flush()
    old = utcnow() - timedelta(days=40)
    for status, created in [("delivered", old), ("failed", old), ("pending", old), ("delivered", utcnow())]:
        db.session.add(
            WebhookDelivery(
                webhook_id=hook.id, event="comment.held", body="{}", status=status, attempt_log=[], created_at=created
            )
        )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["comments", "purge"])
    assert result.exit_code == 0, result.output
    assert "Dropped 2 finished webhook deliveries older than 30 days." in result.output
    assert sorted(d.status for d in db.session.query(WebhookDelivery)) == ["delivered", "pending"]


def test_erase_drops_webhook_deliveries_about_the_author(app, client, db, api, site, host, monkeypatch):
    from comments.models import WebhookDelivery

    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    client.post(
        "/api/v1/sites/news/webhooks",
        headers=host,
        json={"url": "http://127.0.0.1:9/hook", "events": ["comment.published"]},
    )
    api.post("Ann's words", author="Ann", author_email="ann@example.org")
    api.post("Bo's words", author="Bo", ip="192.0.2.9")
    assert db.session.query(WebhookDelivery).count() == 2
    client.post(f"{PRIVACY}/erase", headers=host, json={"email": "ann@example.org"})
    remaining = db.session.query(WebhookDelivery).all()
    assert len(remaining) == 1 and "Ann" not in remaining[0].body and "Bo's words" in remaining[0].body


def test_purge_forgets_old_login_failures(app, db, moderator):
    from comments.models import LoginFailure

    for address, days in (("old", 100), ("recent", 1)):
        db.session.add(
            LoginFailure(
                moderator_id=moderator.id,
                address_key=hash_ip(address),
                failures=2,
                last_failure_at=utcnow() - timedelta(days=days),
            )
        )
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["comments", "purge", "--ip-older-than", "90"]).exit_code == 0
    db.session.expire_all()
    assert [f.address_key for f in db.session.query(LoginFailure)] == [hash_ip("recent")]


def test_emails_with_spaces_or_newlines_around_them_are_trimmed(api, client, db, host):
    posted = api.post("Ann's comment", author_email=" Ann@Example.org\n")
    assert posted.status_code == 201, posted.json
    comment = db.session.get(Comment, posted.json["comment"]["id"])
    assert comment.author_email_hash == hash_email("ann@example.org")
    found = client.post(f"{PRIVACY}/export", headers=host, json={"email": "\tann@example.org \r\n"})
    assert found.status_code == 200 and [c["id"] for c in found.json["comments"]] == [comment.id]
    assert client.post(f"{PRIVACY}/erase", headers=host, json={"email": "\nann@example.org"}).json["erased"] == 1
    assert api.post("Not an address", author_email="ann @example.org").status_code == 422


# --- by the host's SSO user id ----------------------------------------------------------------


@pytest.fixture()
def sso_secret(db, site) -> str:
    from comments.services import sso
    from comments.services.audit import Actor

    secret = sso.issue_secret(site, Actor("operator", "tests"))
    db.session.commit()
    return secret


def _signed_in(secret: str, user_id: str, **user: object) -> dict[str, str]:
    """The Authorization header of a reader the host signed in (an HS256 token with Coral's claims)."""
    import jwt

    now = int(utcnow().timestamp())
    claims = {"user": {"id": user_id, "username": f"reader {user_id}", **user}, "iat": now, "exp": now + 3600}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def _post_as(api, headers: dict[str, str], body: str, **extra):
    response = api.client.post(api.thread_url(), json={"body": body, **extra}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["comment"]["id"]


def _authors(db) -> list[Author]:
    db.session.expire_all()
    return db.session.query(Author).order_by(Author.id).all()


def test_export_and_erase_by_sso_user_id(client, db, api, site, host, sso_secret):
    reader = _signed_in(sso_secret, "u-42", badges=["subscriber"], email="Kim@Example.org", url="https://kim.example")
    root = _post_as(api, reader, "Kim's first words")
    bo = api.post("Bo answers Kim", author="Bo", ip="192.0.2.9", parent_id=root).json["comment"]["id"]
    lone = _post_as(api, reader, "Kim again")
    other = _post_as(api, _signed_in(sso_secret, "u-7"), "Someone else signed in")
    (kim,) = [a for a in _authors(db) if a.sso_user_id == "u-42"]

    exported = client.post(f"{PRIVACY}/export", headers=host, json={"sso_user_id": "u-42"})
    assert exported.status_code == 200, exported.json
    rows = exported.json["comments"]
    assert [r["id"] for r in rows] == [root, lone]
    assert {(r["author_id"], tuple(r["author_badges"]), r["author_verified"]) for r in rows} == {
        (str(kim.id), ("subscriber",), True)
    }
    assert client.post(f"{PRIVACY}/export", headers=host, json={"sso_user_id": "u-404"}).json == {
        "comments": [],
        "next_cursor": None,
    }

    erased = client.post(f"{PRIVACY}/erase", headers=host, json={"sso_user_id": "u-42"})
    assert erased.json == {"erased": 2, "removed": 1, "tombstoned": 1, "authors": 1}
    db.session.expire_all()
    assert db.session.get(Comment, lone) is None
    tomb = db.session.get(Comment, root)
    assert tomb.author_id is None and tomb.author_badges == [] and not tomb.author_verified
    assert tomb.author_name == "" and tomb.body == ""
    assert db.session.query(AuthorName).filter_by(author_id=kim.id).count() == 0
    assert [a.sso_user_id for a in _authors(db)] == [None, "u-7"]  # Bo's record and the other reader's
    assert db.session.get(Comment, bo).author_name == "Bo" and db.session.get(Comment, other).author_id is not None
    event = db.session.query(AuditEvent).filter_by(action="privacy_erased").one()
    assert event.reasons[0]["by"] == "sso_user_id" and "u-42" not in str(event.reasons)
    # The same reader posting again is a new author: nothing links them to what was erased.
    again = _post_as(api, reader, "Kim is back")
    (fresh,) = [a for a in _authors(db) if a.sso_user_id == "u-42"]
    assert fresh.id != kim.id and db.session.get(Comment, again).author_id == fresh.id
    assert [n.name for n in db.session.query(AuthorName).filter_by(author_id=fresh.id)] == ["reader u-42"]
    nothing = client.post(f"{PRIVACY}/erase", headers=host, json={"sso_user_id": "u-404"})
    assert nothing.json == {"erased": 0, "removed": 0, "tombstoned": 0, "authors": 0}


def test_erasure_by_email_takes_the_author_records_with_it(client, db, api, site, host, sso_secret):
    anonymous = api.post("Ann, anonymous", author="Ann", author_email="ann@example.org").json["comment"]["id"]
    with_email = _post_as(api, _signed_in(sso_secret, "u-1", email="ANN@example.org"), "Ann signed in")
    # A later token without the email: the comment carries no email hash, the record still has it.
    without = _post_as(api, _signed_in(sso_secret, "u-1"), "Ann signed in, no email in the token")
    bo = api.post("Bo's words", author="Bo", ip="192.0.2.9").json["comment"]["id"]
    assert db.session.get(Comment, without).author_email_hash is None
    # The author records keep the email's keyed hash, never the address.
    for table in ("authors", "author_names"):
        rows = db.session.execute(text(f"SELECT * FROM {table}")).all()
        assert rows and "example.org" not in str(rows).lower()
    assert {a.email_hash for a in _authors(db) if a.name != "Bo"} == {hash_email("ann@example.org")}

    exported = client.post(f"{PRIVACY}/export", headers=host, json={"email": "ann@example.org"}).json
    assert [c["id"] for c in exported["comments"]] == [anonymous, with_email, without]
    erased = client.post(f"{PRIVACY}/erase", headers=host, json={"email": "ann@example.org"}).json
    assert erased == {"erased": 3, "removed": 3, "tombstoned": 0, "authors": 2}
    assert [a.name for a in _authors(db)] == ["Bo"]
    assert db.session.get(Comment, bo) is not None


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ann@example.org", "sso_user_id": "u-1"},
        {"sso_user_id": ""},
        {"sso_user_id": "x" * 256},
        {"sso_user_id": 42},
        {"sso_user_id": None},
    ],
)
def test_a_request_names_exactly_one_subject(client, site, host, body):
    for action in ("export", "erase"):
        response = client.post(f"{PRIVACY}/{action}", headers=host, json=body)
        assert response.status_code == 422, response.json
        assert response.json["error"]["fields"]


def test_webhook_payloads_carry_the_author_fields(db, api, site, sso_secret):
    from comments.services.webhooks.outbox import comment_data

    posted = _post_as(api, _signed_in(sso_secret, "u-9", badges=["staff"]), "Signed in")
    comment = db.session.get(Comment, posted)
    payload = comment_data(comment)["comment"]
    assert payload["author_id"] == str(comment.author_id)
    assert payload["author_badges"] == ["staff"] and payload["author_verified"] is True
    anonymous = comment_data(db.session.get(Comment, api.post("Anonymous").json["comment"]["id"]))["comment"]
    assert anonymous["author_badges"] == [] and anonymous["author_verified"] is False
