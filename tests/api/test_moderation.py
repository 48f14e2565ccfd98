"""The moderation API end to end: tokens, queues, decisions, concurrency, bans, the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import AuditEvent, Comment, LoginFailure, Moderator, utcnow
from comments.services.accounts import create_moderator
from comments.services.errors import Conflict
from comments.services.review import decisions
from tests.helpers import set_settings

PASSWORD = "correct horse battery"


def _login(client, email="mod@news.example", password=PASSWORD, ip="127.0.0.1"):
    return client.post(
        "/api/v1/auth/token", json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


@pytest.fixture()
def auth(client, moderator):
    return {"Authorization": f"Bearer {_login(client).json['token']}"}


@pytest.fixture()
def held(api, site):
    set_settings(site, premoderation="all", suspect_words=["crypto"])
    ids = []
    for i, body in enumerate(["first waiting", "crypto tips", "third waiting"]):
        ids.append(api.post(body, f"Author{i}", ip=f"192.0.2.{10 + i}").json["comment"]["id"])
    return ids


def _queue(client, auth, **params):
    response = client.get("/api/v1/moderation/queue", query_string=params, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def _decide(client, auth, comment_id, **body):
    return client.post(f"/api/v1/moderation/comments/{comment_id}/decision", json=body, headers=auth)


def test_login_gives_an_expiring_token_stored_only_hashed(client, db, moderator):
    from comments.models import ModeratorToken

    response = _login(client)
    assert response.status_code == 200
    token = response.json["token"]
    assert response.json["expires_at"].endswith("Z")
    stored = db.session.query(ModeratorToken).one()
    assert token not in stored.token_hash


@pytest.mark.parametrize("email,password", [("mod@news.example", "wrong password"), ("nobody@news.example", PASSWORD)])
def test_failed_logins_get_one_uniform_error(client, moderator, email, password):
    response = _login(client, email, password)
    assert response.status_code == 401
    assert response.json["error"] == {"code": "invalid_credentials", "message": "The email or password is not right."}


def test_repeated_failures_lock_that_address_out_of_the_account_for_a_while(client, db, moderator):
    for _ in range(5):
        assert _login(client, password="wrong", ip="198.51.100.7").status_code == 401
    locked = _login(client, ip="198.51.100.7")  # even the right password is refused now, same answer
    assert locked.status_code == 401
    assert locked.json["error"]["code"] == "invalid_credentials"  # nothing tells the account exists
    # Whoever knows the email locks out only their own address: the moderator still gets in.
    assert _login(client, ip="192.0.2.44").status_code == 200
    events = db.session.query(AuditEvent).filter(AuditEvent.action == "login_locked").all()
    assert [e.reasons[0]["scope"] for e in events] == ["address"]
    db.session.query(LoginFailure).update({"locked_until": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert _login(client, ip="198.51.100.7").status_code == 200
    assert db.session.query(LoginFailure).count() == 0  # a success forgets that address's failures


def test_guessing_from_many_addresses_locks_the_whole_account(client, db, moderator, monkeypatch):
    from comments.services import accounts

    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_ACCOUNT", 8)
    for i in range(8):  # two wrong passwords from each of four addresses: no address reaches 5
        assert _login(client, password="wrong", ip=f"203.0.113.{i // 2}").status_code == 401
    assert _login(client, ip="192.0.2.44").status_code == 401  # locked for every address now
    db.session.query(Moderator).update({"locked_until": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert _login(client, ip="192.0.2.44").status_code == 200


def test_bad_login_bodies(client, moderator):
    assert client.post("/api/v1/auth/token", json={"email": "x"}).status_code == 422
    assert client.post("/api/v1/auth/token", data="{", content_type="application/json").status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_the_moderation_api_needs_a_valid_token(client, db, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/moderation/queue", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_expired_and_revoked_tokens_are_refused(client, db, auth):
    from comments.models import ModeratorToken

    assert client.delete("/api/v1/auth/token", headers=auth).status_code == 204
    assert client.get("/api/v1/moderation/queue", headers=auth).status_code == 401
    fresh = {"Authorization": f"Bearer {_login(client).json['token']}"}
    db.session.query(ModeratorToken).update({"expires_at": utcnow() - timedelta(seconds=1)})
    db.session.commit()
    assert client.get("/api/v1/moderation/queue", headers=fresh).status_code == 401


def test_held_queue_explains_every_item(client, auth, held):
    page = _queue(client, auth, queue="held")
    assert [i["comment"]["id"] for i in page["items"]] == held
    item = page["items"][1]
    assert item["queue"] == "held"
    assert item["comment"]["body_html"] == "<p>crypto tips</p>"
    assert item["thread"] == {"site": "news", "key": "article-1", "title": "", "url": ""}
    assert {r["code"] for r in item["reasons"]} == {"premoderation_all", "suspect_word"}
    assert item["arrived_at"].endswith("Z")
    assert item["parent"] is None and item["reports"] == []


def test_queue_filters_sorting_and_pagination(client, auth, held):
    assert [i["comment"]["id"] for i in _queue(client, auth, reason="suspect_word")["items"]] == [held[1]]
    assert [i["comment"]["id"] for i in _queue(client, auth, sort="newest")["items"]] == held[::-1]
    first = _queue(client, auth, limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = _queue(client, auth, limit=2, cursor=first["next_cursor"])
    assert [i["comment"]["id"] for i in second["items"]] == [held[2]] and second["next_cursor"] is None
    assert _queue(client, auth, site="news")["items"]


def test_queue_sorted_by_score(client, auth, db, held):
    for comment_id, score in zip(held, [0.2, 0.9, None], strict=True):
        db.session.query(Comment).filter_by(id=comment_id).update({"max_score": score})
    db.session.commit()
    order = [i["comment"]["id"] for i in _queue(client, auth, sort="score")["items"]]
    assert order == [held[1], held[0], held[2]]
    page = _queue(client, auth, sort="score", limit=1)
    rest = _queue(client, auth, sort="score", limit=5, cursor=page["next_cursor"])
    assert [i["comment"]["id"] for i in rest["items"]] == [held[0], held[2]]


@pytest.mark.parametrize(
    "params",
    [
        {"queue": "nope"},
        {"sort": "random"},
        {"limit": 0},
        {"reason": "a%"},
        {"cursor": "zzz"},
        {"extra": 1},
        {"site": "Bad Slug"},
    ],
)
def test_bad_queue_parameters(client, auth, params):
    assert client.get("/api/v1/moderation/queue", query_string=params, headers=auth).status_code == 422


def test_unknown_site_filter_is_404(client, auth):
    assert client.get("/api/v1/moderation/queue?site=nope", headers=auth).status_code == 404


def test_approve_publishes_and_reject_rejects_with_audit(api, client, auth, db, held):
    approved = _decide(client, auth, held[0], action="approve")
    assert approved.status_code == 200
    assert approved.json["comment"]["status"] == "published"
    assert _decide(client, auth, held[1], action="reject", reason="spam").json["comment"]["status"] == "rejected"
    assert [n["id"] for n in api.read().json["comments"]] == [held[0]]
    assert [i["comment"]["id"] for i in _queue(client, auth, queue="approved")["items"]] == [held[0]]
    assert [i["comment"]["id"] for i in _queue(client, auth, queue="rejected")["items"]] == [held[1]]
    events = client.get(f"/api/v1/moderation/audit?comment_id={held[1]}", headers=auth).json["events"]
    assert [e["action"] for e in events] == ["rejected", "submitted"]
    assert events[0]["actor"] == {"type": "moderator", "id": "mod@news.example"}
    assert events[0]["reasons"][-1]["reason"] == "spam"


def test_two_moderators_on_one_item_the_second_sees_who_decided(client, db, auth, held):
    create_moderator("other@news.example", PASSWORD)
    db.session.commit()
    other = {"Authorization": f"Bearer {_login(client, 'other@news.example').json['token']}"}
    seen = _queue(client, auth)["items"][0]["comment"]
    seen_by_other = _queue(client, other)["items"][0]["comment"]
    assert seen["version"] == seen_by_other["version"]
    assert _decide(client, auth, seen["id"], action="approve", expected_version=seen["version"]).status_code == 200
    late = _decide(client, other, seen["id"], action="reject", expected_version=seen_by_other["version"])
    assert late.status_code == 409
    error = late.json["error"]
    assert error["code"] == "already_decided"
    assert error["current"]["decision"]["by"] == "mod@news.example"
    assert error["current"]["status"] == "published"
    # Without a version, a comment that no longer waits cannot be decided either.
    assert _decide(client, other, seen["id"], action="reject").status_code == 409
    # With the current version, a moderator may change an earlier decision.
    again = _decide(client, other, seen["id"], action="reject", expected_version=error["current"]["version"])
    assert again.status_code == 200


def test_concurrent_decisions_only_one_wins(app, client, db, auth, held):
    import threading

    barrier = threading.Barrier(2)
    results = []
    version = _queue(client, auth)["items"][0]["comment"]["version"]

    def decide(action):
        barrier.wait()
        with app.app_context():
            results.append(
                app.test_client()
                .post(
                    f"/api/v1/moderation/comments/{held[0]}/decision",
                    json={"action": action, "expected_version": version},
                    headers=auth,
                )
                .status_code
            )

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


@pytest.mark.parametrize(
    "body",
    [
        {"action": "delete"},
        {},
        {"action": "approve", "expected_version": "2"},
        {"action": "approve", "extra": True},
        {"action": "approve", "reason": "x" * 501},
    ],
)
def test_bad_decisions(client, auth, held, body):
    assert _decide(client, auth, held[0], **body).status_code == 422


def test_deciding_an_unknown_comment_is_404(client, auth, db):
    assert _decide(client, auth, 99999, action="approve").status_code == 404


def test_ban_holds_the_authors_next_comments(api, client, auth, db, site, held):
    response = _decide(client, auth, held[1], action="reject", ban_author=True, reason="spammer")
    assert response.status_code == 200
    set_settings(site, premoderation="none", suspect_words=[])
    banned_again = api.post("I am back", "Author1", ip="192.0.2.11")
    assert banned_again.json["comment"]["status"] == "held"
    assert db.session.get(Comment, banned_again.json["comment"]["id"]).reasons[0]["code"] == "author_banned"
    assert api.post("someone else", "Fresh", ip="192.0.2.99").json["comment"]["status"] == "published"


def test_reported_queue_and_dismissal(api, client, auth, db, site):
    set_settings(site, report_threshold=2)
    comment_id = api.post("edgy but fine").json["comment"]["id"]
    for ip in ["198.51.100.1", "198.51.100.2"]:
        client.post(
            f"/api/v1/comments/{comment_id}/reports",
            json={"reason": "offensive", "note": "rude"},
            environ_base={"REMOTE_ADDR": ip},
        )
    item = _queue(client, auth, queue="reported")["items"][0]
    assert item["comment"]["status"] == "published" and item["comment"]["report_count"] == 2
    assert [r["reason"] for r in item["reports"]] == ["offensive", "offensive"]
    assert _decide(client, auth, comment_id, action="approve").status_code == 200
    assert _queue(client, auth, queue="reported")["items"] == []
    assert api.read().json["comments"][0]["id"] == comment_id


def test_a_moderator_limited_to_some_sites_sees_only_those(api, client, db, held):
    from comments.services.sites import create_site

    create_site("other", [])
    create_moderator("limited@news.example", PASSWORD, ["other"])
    db.session.commit()
    limited = {"Authorization": f"Bearer {_login(client, 'limited@news.example').json['token']}"}
    assert _queue(client, limited)["items"] == []
    assert client.get("/api/v1/moderation/queue?site=news", headers=limited).status_code == 403
    assert _decide(client, limited, held[0], action="approve").status_code == 403
    events = client.get("/api/v1/moderation/audit", headers=limited).json["events"]
    assert all(e["comment_id"] not in held for e in events)


def test_audit_log_pagination(client, auth, held):
    first = client.get("/api/v1/moderation/audit?limit=2", headers=auth).json
    assert len(first["events"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/moderation/audit?limit=50&cursor={first['next_cursor']}", headers=auth).json
    ids = [e["id"] for e in first["events"] + rest["events"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert client.get("/api/v1/moderation/audit?cursor=x", headers=auth).status_code == 422


def test_the_audit_log_is_append_only(db, held):
    from comments.models import AuditEvent

    event = db.session.query(AuditEvent).first()
    event.action = "tampered"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.query(AuditEvent).first())
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize("body", [{"action": "maybe"}, {"nonsense": 1}, None])
def test_without_credentials_the_answer_is_401_whatever_the_body(client, body):
    response = client.post("/api/v1/moderation/comments/1/decision", json=body)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/moderation/queue?queue=nonsense").status_code == 401


def test_two_first_failures_at_once_from_one_address_answer_alike(client, db, moderator, monkeypatch):
    """The other request stored this address's first failure while the password was checked."""
    from argon2.exceptions import VerifyMismatchError

    from comments.security import hash_ip
    from comments.services import accounts

    class RacedHasher:
        def verify(self, stored, password):
            with db.engine.begin() as connection:
                connection.execute(
                    LoginFailure.__table__.insert().values(
                        moderator_id=moderator.id,
                        address_key=hash_ip("198.51.100.9"),
                        failures=1,
                        last_failure_at=utcnow(),
                    )
                )
            raise VerifyMismatchError()

    monkeypatch.setattr(accounts, "password_hasher", RacedHasher())
    response = _login(client, password="wrong", ip="198.51.100.9")
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_credentials"
    assert db.session.query(LoginFailure).one().failures == 1


def test_the_moderation_api_can_undo(client, db, moderator, waiting):
    token = client.post(
        "/api/v1/auth/token", json={"email": "mod@news.example", "password": "correct horse battery"}
    ).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    comment_id = waiting[0].id
    assert (
        client.post(
            f"/api/v1/moderation/comments/{comment_id}/decision", json={"action": "approve"}, headers=auth
        ).status_code
        == 200
    )
    undone = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=auth)
    assert undone.status_code == 200 and undone.json["comment"]["status"] == "held"
    again = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "nothing_to_undo"
    assert client.post("/api/v1/moderation/comments/999999/undo", headers=auth).status_code == 404


def test_a_host_key_with_the_moderate_scope_can_undo_its_own_decision(client, db, site, moderator, waiting):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    created = client.post("/api/v1/sites/news/keys", headers=host, json={"label": "cms", "scopes": ["moderate"]})
    key = {"Authorization": f"Bearer {created.json['api_key']}"}
    comment_id = waiting[0].id
    assert (
        client.post(
            f"/api/v1/moderation/comments/{comment_id}/decision", json={"action": "reject"}, headers=key
        ).status_code
        == 200
    )
    # A moderator did not make that decision: only the key may undo it.
    with pytest.raises(Conflict):
        decisions.undo_decision(moderator, comment_id)
    undone = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=key)
    assert undone.status_code == 200 and undone.json["comment"]["status"] == "held"
    event = db.session.query(AuditEvent).filter_by(comment_id=comment_id, action="decision_undone").one()
    assert event.actor_type == "host"
