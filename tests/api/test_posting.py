"""POST /sites/{site}/threads/{key}/comments: statuses, replies and every kind of bad input."""

from __future__ import annotations

import json

import pytest

from comments.models import AuditEvent, Comment, Thread
from tests.helpers import set_settings


def test_a_clean_comment_is_published_at_once(api):
    response = api.post("Hello *world*", "Ann")
    assert response.status_code == 201
    comment = response.json["comment"]
    assert comment["status"] == "published"
    assert comment["body"] == "Hello *world*"
    assert comment["body_html"] == "<p>Hello <em>world</em></p>"
    assert comment["author_name"] == "Ann"
    assert comment["parent_id"] is None
    assert comment["created_at"].endswith("Z")
    assert response.json["edit_token"]


def test_first_comment_creates_the_thread_with_title_and_url(api, db):
    api.post(key="politics/2026/11/budget", thread_title="The budget", thread_url="https://news.example/b")
    thread = db.session.query(Thread).one()
    assert (thread.key, thread.title, thread.url) == ("politics/2026/11/budget", "The budget", "https://news.example/b")
    assert api.read("politics/2026/11/budget").json["thread"]["comment_count"] == 1


def test_body_is_stored_exactly_as_written(api, db):
    body = "  leading spaces\n\n\tand a tab, trailing newline\n"
    api.post(body)
    assert db.session.query(Comment).one().body == body


def test_reply_nests_under_its_parent(api):
    root = api.post("root").json["comment"]
    reply = api.post("reply", "Bob", parent_id=root["id"])
    assert reply.status_code == 201
    assert reply.json["comment"]["parent_id"] == root["id"]
    thread = api.read().json["comments"]
    assert thread[0]["reply_count"] == 1
    assert thread[0]["replies"][0]["body"] == "reply"


def test_each_submission_is_in_the_audit_log(api, db):
    comment_id = api.post().json["comment"]["id"]
    event = db.session.query(AuditEvent).filter_by(comment_id=comment_id).one()
    assert (event.action, event.actor_type, event.from_status, event.to_status) == (
        "submitted",
        "author",
        "pending",
        "published",
    )


def test_email_and_ip_are_stored_only_as_keyed_hashes(api, db):
    api.post(author_email="Ann@Example.com", ip="203.0.113.9")
    stored = db.session.query(Comment).one()
    assert stored.author_email_hash and "example" not in stored.author_email_hash.lower()
    assert stored.ip_hash and "203.0.113.9" not in stored.ip_hash
    row = json.dumps([getattr(stored, c.key) for c in Comment.__table__.columns], default=str)
    assert "Ann@Example.com".lower() not in row.lower() and "203.0.113.9" not in row


# --- bad input ------------------------------------------------------------------------------


def _error(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert set(error) >= {"code", "message"}
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize("body", ["", "   ", "\n\t\n"])
def test_empty_body_is_refused(api, body):
    error = _error(api.post(body), 422, "validation_failed")
    assert "body" in error["fields"]


def test_body_limits_are_exact_and_never_truncated(api, db):
    assert api.post("x" * 10_000).status_code == 201
    error = _error(api.post("y" * 10_001), 422)
    assert "body" in error["fields"]
    assert db.session.query(Comment).count() == 1


def test_author_name_limits(api):
    assert api.post(author="n" * 64).status_code == 201
    _error(api.post("other", author="n" * 65), 422)
    _error(api.post("other2", author="   "), 422)


@pytest.mark.parametrize("missing", ["body", "author_name"])
def test_missing_fields(api, missing):
    payload = {"body": "text", "author_name": "Ann"}
    del payload[missing]
    error = _error(api.client.post(api.thread_url(), json=payload), 422)
    assert missing in error["fields"]


def test_unknown_fields_are_refused_not_ignored(api):
    error = _error(api.post(is_admin=True), 422)
    assert "is_admin" in error["fields"]


@pytest.mark.parametrize("raw", ["{", "not json", '{"body": "x",}', "\xff\xfe"])
def test_invalid_json_is_400(api, raw):
    response = api.client.post(api.thread_url(), data=raw.encode("latin-1"), content_type="application/json")
    _error(response, 400, "invalid_json")


@pytest.mark.parametrize("payload", ["[1, 2]", '"a string"', "42", "null"])
def test_json_that_is_not_an_object_is_refused(api, payload):
    response = api.client.post(api.thread_url(), data=payload, content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.json["error"]["code"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("body", 42),
        ("author_name", ["a"]),
        ("parent_id", "1"),
        ("parent_id", 1.5),
        ("parent_id", True),
        ("author_email", "not-an-email"),
        ("thread_url", "javascript:alert(1)"),
    ],
)
def test_wrong_types_are_422(api, field, value):
    payload = {"body": "text", "author_name": "Ann", field: value}
    error = _error(api.client.post(api.thread_url(), json=payload), 422)
    assert field in error["fields"]


def test_request_body_over_64_kib_is_413(api):
    payload = json.dumps({"body": "a" * 70_000, "author_name": "Ann"})
    _error(api.client.post(api.thread_url(), data=payload, content_type="application/json"), 413, "payload_too_large")


@pytest.mark.parametrize("text", ["nul \x00 byte", "bell \x07", "escape \x1b[31m", "del \x7f", "c1 \x85"])
def test_control_characters_are_refused(api, text):
    error = _error(api.post(text), 422)
    assert error["fields"]["body"]


def test_control_characters_in_names_are_refused(api):
    _error(api.post("fine", author="Ann\nSmith"), 422)


def test_lone_surrogates_are_refused(api):
    raw = '{"body": "broken \\ud800 text", "author_name": "Ann"}'
    error = _error(api.client.post(api.thread_url(), data=raw, content_type="application/json"), 422)
    assert "body" in error["fields"]
    raw = '{"body": "fine", "author_name": "\\udfff"}'
    _error(api.client.post(api.thread_url(), data=raw, content_type="application/json"), 422)


def test_newlines_tabs_and_emoji_are_fine(api):
    assert api.post("line one\r\nline two\ttab 🎉 ünïcödé").status_code == 201


def test_unknown_site_is_404(client, db):
    response = client.post("/api/v1/sites/nope/threads/a/comments", json={"body": "x", "author_name": "A"})
    _error(response, 404, "site_not_found")


def test_parent_from_another_thread_is_422(api):
    other = api.post("elsewhere", key="article-2").json["comment"]
    error = _error(api.post("reply", parent_id=other["id"]), 422, "invalid_parent")
    assert "parent_id" in error["fields"]


def test_unknown_parent_is_422(api):
    api.post("root")
    _error(api.post("reply", parent_id=999_999), 422, "invalid_parent")


def test_reply_to_a_held_comment_is_refused(api, site):
    set_settings(site, premoderation="all")
    held = api.post("waiting").json["comment"]
    _error(api.post("reply", "Bob", parent_id=held["id"]), 422, "invalid_parent")


def test_thread_key_over_255_characters_is_422(api):
    _error(api.post(key="k" * 256), 422, "invalid_thread_key")
    assert api.post(key="k" * 255).status_code == 201


def test_thread_keys_may_hold_slashes_and_unicode(api):
    for key in ["a/b/c", "/leading", "trailing/", "a//b", "día?x=1&y#z", "spaces in key"]:
        assert api.post(f"on {key}", key=key).status_code == 201, key
        assert api.read(key).json["thread"]["key"] == key


def test_closed_thread_refuses_new_comments(api, db):
    api.post("first")
    db.session.query(Thread).update({"closed": True})
    db.session.commit()
    _error(api.post("second"), 403, "thread_closed")
    assert len(api.read().json["comments"]) == 1  # reading goes on


def test_wrong_method_is_json_405(api):
    _error(api.client.put(api.thread_url(), json={}), 405, "method_not_allowed")


def test_unknown_api_path_is_json_404(client, db):
    _error(client.get("/api/v1/nothing-here"), 404, "not_found")
