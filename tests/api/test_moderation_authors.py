"""The moderation API's authors: the person behind queue items, their page, their status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import event, update

from comments.models import AuditEvent, Author, Comment, utcnow
from comments.services import readers
from comments.services.accounts import create_moderator
from comments.services.audit import Actor
from comments.services.sites import create_site
from comments.services.sso import issue_secret
from comments.services.threads import rfc3339
from tests.helpers import PASSWORD, make_comment, set_settings

EMPTY_COUNTS = {"pending": 0, "published": 0, "held": 0, "rejected": 0, "deleted": 0}


def _bearer(client, email="mod@news.example"):
    response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture()
def auth(client, moderator):
    return _bearer(client)


@pytest.fixture()
def signed_in(db, site):
    """Headers that post as a signed-in reader of the site (an SSO token under its secret)."""
    secret = issue_secret(site, Actor("operator"))
    db.session.commit()
    claims = {"user": {"id": "u-42", "username": "Dana", "badges": ["subscriber", "staff"]}, "iat": utcnow()}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def _post(client, body, headers=None, name="Ann", ip="192.0.2.10", key="article-1"):
    payload = {"body": body} if headers else {"body": body, "author_name": name}
    response = client.post(
        f"/api/v1/sites/news/threads/{key}/comments",
        json=payload,
        headers=headers or {},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code in (200, 201, 202), response.json
    return response.json["comment"]["id"]


def _author_id(db, comment_id) -> str:
    return str(db.session.get(Comment, comment_id).author_id)


def _queue(client, auth, **params):
    response = client.get("/api/v1/moderation/queue", query_string=params, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def _status(client, auth, author_id, **body):
    return client.post(f"/api/v1/moderation/authors/{author_id}/status", json=body, headers=auth)


# --- the queue --------------------------------------------------------------------------------


def test_queue_items_carry_their_author_with_counts(client, db, auth, site, signed_in):
    set_settings(site, premoderation="all")
    dana = [_post(client, f"signed in {i}", signed_in) for i in range(2)]
    ann = _post(client, "anonymous", name="Ann", ip="192.0.2.20")
    items = {i["comment"]["id"]: i["comment"] for i in _queue(client, auth)["items"]}
    assert items[dana[0]]["author"] == {
        "id": _author_id(db, dana[0]),
        "name": "Dana",
        "badges": ["subscriber", "staff"],
        "verified": True,
        "status": "active",
        "until": None,
        "counts": {**EMPTY_COUNTS, "held": 2},
    }
    assert items[dana[0]]["author_badges"] == ["subscriber", "staff"] and items[dana[0]]["author_verified"]
    anonymous = items[ann]["author"]
    assert (anonymous["name"], anonymous["badges"], anonymous["verified"]) == ("Ann", [], False)
    assert anonymous["counts"] == {**EMPTY_COUNTS, "held": 1} and anonymous["id"] != items[dana[0]]["author"]["id"]


def test_a_page_of_the_queue_counts_its_authors_comments_in_one_query(client, db, auth, site):
    set_settings(site, premoderation="all")
    for i in range(6):
        _post(client, f"comment {i}", name=f"Author{i}", ip=f"192.0.2.{30 + i}")
    grouped: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY comments.author_id" in statement:
            grouped.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        items = _queue(client, auth)["items"]
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
    assert len({i["comment"]["author"]["id"] for i in items}) == 6
    assert len(grouped) == 1


def test_a_comment_whose_author_record_was_erased_has_no_author(client, db, auth, site):
    set_settings(site, premoderation="all")
    comment_id = _post(client, "erased later")
    db.session.execute(update(Comment).where(Comment.id == comment_id).values(author_id=None))
    db.session.commit()
    (item,) = _queue(client, auth)["items"]
    assert item["comment"]["author"] is None and item["comment"]["author_name"] == "Ann"


def test_a_decision_answers_with_the_author(client, db, auth, site):
    set_settings(site, premoderation="all")
    comment_id = _post(client, "to approve")
    decided = client.post(
        f"/api/v1/moderation/comments/{comment_id}/decision", json={"action": "approve"}, headers=auth
    )
    assert decided.status_code == 200
    assert decided.json["comment"]["author"]["counts"] == {**EMPTY_COUNTS, "published": 1}


def test_the_queue_filters_by_author(client, db, auth, site):
    set_settings(site, premoderation="all")
    ann = [_post(client, f"ann {i}", name="Ann", ip="192.0.2.10") for i in range(2)]
    bob = _post(client, "bob's", name="Bob", ip="192.0.2.11")
    ann_id, bob_id = _author_id(db, ann[0]), _author_id(db, bob)
    assert [i["comment"]["id"] for i in _queue(client, auth, author=ann_id)["items"]] == ann
    assert [i["comment"]["id"] for i in _queue(client, auth, author=bob_id)["items"]] == [bob]
    assert _queue(client, auth, author=str(int(ann_id) + int(bob_id) + 100))["items"] == []


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1e3", "99999999999999", "", " 5"])
def test_a_malformed_author_filter_is_a_422_naming_the_field(client, auth, site, bad):
    response = client.get("/api/v1/moderation/queue", query_string={"author": bad}, headers=auth)
    assert response.status_code == 422, response.json
    assert "author" in response.json["error"]["fields"]


# --- the author page --------------------------------------------------------------------------


def test_the_author_page_shows_the_record_and_pages_through_every_comment(client, db, auth, site):
    set_settings(site, suspect_words=["crypto"])
    ids = [
        _post(
            client, f"comment {i}" + (" crypto" if i == 2 else ""), name="Ann" if i < 3 else "Annie", key=f"a-{i % 2}"
        )
        for i in range(5)
    ]
    version = db.session.get(Comment, ids[1]).version
    reject = client.post(
        f"/api/v1/moderation/comments/{ids[1]}/decision",
        json={"action": "reject", "expected_version": version, "reason": "off topic"},
        headers=auth,
    )
    assert reject.status_code == 200, reject.json
    report = client.post(f"/api/v1/comments/{ids[0]}/reports", json={"reason": "spam"})
    assert report.status_code in (200, 201, 202), report.json
    author_id = _author_id(db, ids[0])
    seen, cursor, pages = [], None, 0
    while True:
        response = client.get(
            f"/api/v1/moderation/authors/{author_id}", query_string={"limit": 2, "cursor": cursor or ""}, headers=auth
        )
        assert response.status_code == 200, response.json
        pages += 1
        seen.extend(response.json["comments"])
        cursor = response.json["next_cursor"]
        if cursor is None or pages > 5:
            break
    assert pages == 3 and [c["id"] for c in seen] == ids[::-1]  # newest first, each once
    by_id = {c["id"]: c for c in seen}
    assert by_id[ids[1]]["status"] == "rejected" and by_id[ids[1]]["queue"] == "rejected"
    assert by_id[ids[2]]["queue"] == "held" and [r["code"] for r in by_id[ids[2]]["reasons"]] == ["suspect_word"]
    assert by_id[ids[2]]["thread_key"] == "a-0" and by_id[ids[3]]["thread_key"] == "a-1"
    assert by_id[ids[0]]["report_count"] == 1 and by_id[ids[0]]["created_at"].endswith("Z")
    author = response.json["author"]
    assert (author["id"], author["name"], author["site"], author["status"]) == (author_id, "Annie", "news", "active")
    assert author["counts"] == {**EMPTY_COUNTS, "published": 3, "held": 1, "rejected": 1}
    assert author["reports_received"] == 1
    assert [n["name"] for n in author["names"]] == ["Annie", "Ann"]
    assert author["first_seen_at"] <= author["last_seen_at"] and author["until"] is None


def test_the_author_page_refuses_a_bad_cursor_and_limit(client, db, auth, site):
    author_id = _author_id(db, _post(client, "one"))
    for params in ({"cursor": "garbage"}, {"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"sort": "new"}):
        response = client.get(f"/api/v1/moderation/authors/{author_id}", query_string=params, headers=auth)
        assert response.status_code in (400, 422), (params, response.json)
        assert response.json["error"]["code"]


@pytest.mark.parametrize("author_id", ["0", "-1", "abc", "1e3", "99999999999999", "00", "+1", "1.0", "%201", "١"])
def test_an_unknown_or_malformed_author_is_a_404(client, auth, site, author_id):
    for response in (
        client.get(f"/api/v1/moderation/authors/{author_id}", headers=auth),
        _status(client, auth, author_id, status="banned"),
    ):
        assert response.status_code == 404, response.json
        assert response.json["error"]["code"] == "author_not_found"


def test_the_author_api_needs_a_moderator(client, db, site):
    author_id = _author_id(db, _post(client, "one"))
    assert client.get(f"/api/v1/moderation/authors/{author_id}").status_code == 401
    assert client.post(f"/api/v1/moderation/authors/{author_id}/status", json={"status": "banned"}).status_code == 401
    assert db.session.get(Author, int(author_id)).status == "active"


# --- status changes -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["premod", "banned", "active"])
def test_each_status_change_is_answered_audited_and_read_back(client, db, auth, site, status):
    author_id = _author_id(db, _post(client, "one"))
    response = _status(client, auth, author_id, status=status, reason="because")
    assert response.status_code == 200, response.json
    author = response.json["author"]
    assert (author["id"], author["status"], author["until"], author["status_reason"]) == (
        author_id,
        status,
        None,
        "because",
    )
    assert author["status_changed_at"] and author["counts"]["published"] == 1 and "comments" not in response.json
    got = client.get(f"/api/v1/moderation/authors/{author_id}", headers=auth).json["author"]
    assert got["status"] == status
    audit = client.get("/api/v1/moderation/audit", query_string={"author_id": author_id}, headers=auth).json
    (entry,) = audit["events"]
    assert entry["action"] == "author_status_changed" and entry["actor"] == {
        "type": "moderator",
        "id": "mod@news.example",
    }
    reason = entry["reasons"][0]
    assert (reason["author_id"], reason["from"], reason["to"], reason["reason"]) == (
        author_id,
        "active",
        status,
        "because",
    )


def test_premod_holds_and_banned_keeps_out_the_next_comments(client, db, auth, site, signed_in):
    dana = _author_id(db, _post(client, "first", signed_in))
    ann = _author_id(db, _post(client, "first", name="Ann", ip="192.0.2.50"))
    assert _status(client, auth, ann, status="premod").status_code == 200
    held = client.post(
        "/api/v1/sites/news/threads/article-1/comments",
        json={"body": "second", "author_name": "Ann"},
        environ_base={"REMOTE_ADDR": "192.0.2.50"},
    )
    assert held.json["comment"]["status"] == "held"
    assert _status(client, auth, dana, status="banned").status_code == 200
    refused = client.post("/api/v1/sites/news/threads/article-1/comments", json={"body": "x"}, headers=signed_in)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "author_banned"


def test_a_suspension_until_a_time_refuses_a_signed_in_author_until_then(client, db, auth, site, signed_in):
    dana = _author_id(db, _post(client, "first", signed_in))
    until = utcnow() + timedelta(days=7)
    response = _status(client, auth, dana, status="suspended", until=rfc3339(until), reason="cool off")
    assert response.status_code == 200, response.json
    assert response.json["author"]["status"] == "suspended" and response.json["author"]["until"] == rfc3339(until)
    refused = client.post("/api/v1/sites/news/threads/article-1/comments", json={"body": "x"}, headers=signed_in)
    assert refused.status_code == 403 and refused.json["error"]["fields"]["until"] == rfc3339(until)
    # Once the time has passed the suspension is over, without anyone lifting it.
    db.session.execute(
        update(Author).where(Author.id == int(dana)).values(status_until=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    got = client.get(f"/api/v1/moderation/authors/{dana}", headers=auth).json["author"]
    assert (got["status"], got["until"]) == ("active", None)
    assert _post(client, "back again", signed_in)


def test_a_suspension_until_in_another_offset_is_stored_in_utc(client, db, auth, site):
    author_id = _author_id(db, _post(client, "first"))
    year = utcnow().year + 1
    response = _status(client, auth, author_id, status="suspended", until=f"{year}-03-01T09:15:00+02:00")
    assert response.status_code == 200, response.json
    assert response.json["author"]["until"] == rfc3339(datetime(year, 3, 1, 7, 15, tzinfo=UTC))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "suspended"}, "until"),
        ({"status": "suspended", "until": "2001-01-01T00:00:00Z"}, "until"),
        ({"status": "suspended", "until": "tomorrow"}, "until"),
        ({"status": "suspended", "until": "2999-01-01"}, "until"),
        ({"status": "suspended", "until": "0001-01-01T00:00:00+01:00"}, "until"),
        ({"status": "suspended", "until": 1893456000}, "until"),
        ({"status": "suspended", "until": "9999-12-31T00:00:00Z"}, "until"),
        ({"status": "banned", "until": "2999-01-01T00:00:00Z"}, "until"),
        ({"status": "premod", "until": "2999-01-01T00:00:00Z"}, "until"),
        ({"status": "active", "until": "2999-01-01T00:00:00Z"}, "until"),
        ({"status": "silenced"}, "status"),
        ({"status": ""}, "status"),
        ({"status": None}, "status"),
        ({}, "status"),
        ({"status": "banned", "reason": "x" * 501}, "reason"),
        ({"status": "banned", "reason": 5}, "reason"),
        ({"status": "banned", "forever": True}, "forever"),
    ],
)
def test_bad_status_changes_are_422_naming_the_field_and_change_nothing(client, db, auth, site, body, field):
    author_id = _author_id(db, _post(client, "first"))
    response = _status(client, auth, author_id, **body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    assert db.session.get(Author, int(author_id)).status == "active"
    assert db.session.query(AuditEvent).filter_by(action="author_status_changed").count() == 0


def test_a_suspension_past_ten_years_is_the_same_422_as_the_dashboards_rule(client, db, auth, site):
    author_id = _author_id(db, _post(client, "first"))
    too_far = utcnow() + readers.LONGEST_SUSPENSION + timedelta(hours=1)
    response = _status(client, auth, author_id, status="suspended", until=rfc3339(too_far))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "until_too_far", response.json
    assert "at most ten years" in response.json["error"]["fields"]["until"][0]
    within = utcnow() + readers.LONGEST_SUSPENSION - timedelta(hours=1)
    assert _status(client, auth, author_id, status="suspended", until=rfc3339(within)).status_code == 200


def test_a_body_that_is_not_an_object_is_a_clear_error(client, db, auth, site):
    author_id = _author_id(db, _post(client, "first"))
    for raw in ("[]", '"banned"', "{", "null"):
        response = client.post(
            f"/api/v1/moderation/authors/{author_id}/status",
            data=raw,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), raw
        assert response.json["error"]["code"]


# --- who may see whom -------------------------------------------------------------------------


@pytest.fixture()
def other_site_author(db):
    other, _ = create_site("sports", ["https://sports.example"], name="Sports")
    db.session.commit()
    return str(make_comment(other, "elsewhere", ip="192.0.2.90").author_id)


def test_a_site_scoped_moderator_sees_only_their_sites_authors(client, db, site, other_site_author):
    create_moderator("news-only@news.example", PASSWORD, ["news"])
    db.session.commit()
    auth = _bearer(client, "news-only@news.example")
    own = _author_id(db, _post(client, "mine"))
    assert client.get(f"/api/v1/moderation/authors/{own}", headers=auth).status_code == 200
    assert _status(client, auth, own, status="premod").status_code == 200
    for response in (
        client.get(f"/api/v1/moderation/authors/{other_site_author}", headers=auth),
        _status(client, auth, other_site_author, status="banned"),
    ):
        assert response.status_code == 404 and response.json["error"]["code"] == "author_not_found"
    assert db.session.get(Author, int(other_site_author)).status == "active"
    # The audit log filtered by that author shows nothing of the other site either.
    events = client.get("/api/v1/moderation/audit", query_string={"author_id": other_site_author}, headers=auth)
    assert events.status_code == 200 and events.json["events"] == []


def test_a_moderate_scoped_host_key_sees_only_its_sites_authors(client, db, site, other_site_author):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    created = client.post("/api/v1/sites/news/keys", headers=host, json={"label": "cms", "scopes": ["moderate"]})
    key = {"Authorization": f"Bearer {created.json['api_key']}"}
    own = _author_id(db, _post(client, "mine"))
    changed = _status(client, key, own, status="banned", reason="spam run")
    assert changed.status_code == 200 and changed.json["author"]["status"] == "banned"
    event_row = db.session.query(AuditEvent).filter_by(action="author_status_changed").one()
    assert event_row.actor_type == "host" and event_row.site_id == site.id
    assert client.get(f"/api/v1/moderation/authors/{other_site_author}", headers=key).status_code == 404
    assert _status(client, key, other_site_author, status="banned").status_code == 404


def test_an_unscoped_moderator_sees_every_sites_authors(client, db, auth, site, other_site_author):
    response = client.get(f"/api/v1/moderation/authors/{other_site_author}", headers=auth)
    assert response.status_code == 200 and response.json["author"]["site"] == "sports"
