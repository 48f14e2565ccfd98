"""An author's own comment: reading it while held, editing and deleting within the window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import AuditEvent, Comment, CommentRevision, utcnow
from tests.helpers import set_settings


def _url(comment_id):
    return f"/api/v1/comments/{comment_id}"


@pytest.fixture()
def posted(api):
    response = api.post("original text", "Ann")
    return response.json["comment"]["id"], response.json["edit_token"]


def test_anyone_reads_a_published_comment(api, posted):
    comment_id, _ = posted
    response = api.client.get(_url(comment_id))
    assert response.status_code == 200
    assert response.json["comment"]["body"] == "original text"
    assert "moderation_note" not in response.json["comment"]


def test_held_comment_is_visible_only_to_its_author_in_plain_words(api, site):
    set_settings(site, premoderation="all")
    response = api.post("please review", "Ann")
    assert response.status_code == 202
    comment_id, token = response.json["comment"]["id"], response.json["edit_token"]
    assert api.client.get(_url(comment_id)).status_code == 404
    own = api.client.get(_url(comment_id), headers={"X-Edit-Token": token}).json["comment"]
    assert own["status"] == "held"
    assert own["moderation_note"] == "Your comment is waiting for review by a moderator."
    assert "score" not in str(own) and "premoderation" not in str(own)


def test_edit_rerenders_keeps_history_and_audits(api, db, posted):
    comment_id, token = posted
    response = api.client.patch(_url(comment_id), json={"body": "better *text*"}, headers={"X-Edit-Token": token})
    assert response.status_code == 200
    comment = response.json["comment"]
    assert comment["body_html"] == "<p>better <em>text</em></p>"
    assert comment["edited_at"] is not None
    assert comment["status"] == "published"
    assert [r.body for r in db.session.query(CommentRevision).filter_by(comment_id=comment_id)] == ["original text"]
    actions = [e.action for e in db.session.query(AuditEvent).filter_by(comment_id=comment_id).order_by(AuditEvent.id)]
    assert actions == ["submitted", "edited"]
    assert api.read().json["comments"][0]["body"] == "better *text*"


def test_an_edit_goes_through_the_rules_again(api, site, posted):
    comment_id, token = posted
    set_settings(site, suspect_words=["crypto"])
    response = api.client.patch(_url(comment_id), json={"body": "buy crypto now"}, headers={"X-Edit-Token": token})
    assert response.json["comment"]["status"] == "held"
    assert api.read().json["comments"] == []
    assert api.read().json["thread"]["comment_count"] == 0


@pytest.mark.parametrize(
    "headers,code",
    [
        ({}, "edit_token_missing"),
        ({"X-Edit-Token": "garbage"}, "edit_token_invalid"),
    ],
)
def test_edit_needs_a_valid_token(api, posted, headers, code):
    comment_id, _ = posted
    response = api.client.patch(_url(comment_id), json={"body": "hijack"}, headers=headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == code


def test_a_token_is_bound_to_its_comment(api, posted):
    comment_id, _ = posted
    other_token = api.post("another", "Bob").json["edit_token"]
    response = api.client.patch(_url(comment_id), json={"body": "hijack"}, headers={"X-Edit-Token": other_token})
    assert response.json["error"]["code"] == "edit_token_invalid"


def test_tokens_expire(app, api, posted):
    comment_id, token = posted
    app.config["EDIT_TOKEN_MAX_AGE"] = -1
    try:
        response = api.client.get(_url(comment_id), headers={"X-Edit-Token": token})
    finally:
        app.config["EDIT_TOKEN_MAX_AGE"] = 7 * 24 * 3600
    assert response.json["error"]["code"] == "edit_token_expired"


def test_edit_window_closes(api, db, posted):
    comment_id, token = posted
    db.session.query(Comment).filter_by(id=comment_id).update({"created_at": utcnow() - timedelta(minutes=16)})
    db.session.commit()
    response = api.client.patch(_url(comment_id), json={"body": "too late"}, headers={"X-Edit-Token": token})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "edit_window_closed"
    response = api.client.delete(_url(comment_id), headers={"X-Edit-Token": token})
    assert response.json["error"]["code"] == "edit_window_closed"


def test_edit_window_is_a_site_setting(api, db, site, posted):
    comment_id, token = posted
    set_settings(site, edit_window_seconds=3600)
    db.session.query(Comment).filter_by(id=comment_id).update({"created_at": utcnow() - timedelta(minutes=30)})
    db.session.commit()
    response = api.client.patch(_url(comment_id), json={"body": "still fine"}, headers={"X-Edit-Token": token})
    assert response.status_code == 200


def test_bad_edit_bodies(api, posted):
    comment_id, token = posted
    headers = {"X-Edit-Token": token}
    assert api.client.patch(_url(comment_id), json={"body": ""}, headers=headers).status_code == 422
    assert api.client.patch(_url(comment_id), json={"body": "x" * 10_001}, headers=headers).status_code == 422
    assert (
        api.client.patch(_url(comment_id), json={"body": "ok", "status": "published"}, headers=headers).status_code
        == 422
    )
    assert (
        api.client.patch(_url(comment_id), data="{", content_type="application/json", headers=headers).status_code
        == 400
    )


def test_delete_without_replies_removes_the_text(api, db, posted):
    comment_id, token = posted
    assert api.client.delete(_url(comment_id), headers={"X-Edit-Token": token}).status_code == 204
    stored = db.session.get(Comment, comment_id)
    assert stored.status == "deleted" and stored.body == "" and stored.author_name == ""
    assert api.read().json["comments"] == []
    assert api.client.get(_url(comment_id)).status_code == 404
    # Deleting twice is harmless.
    assert api.client.delete(_url(comment_id), headers={"X-Edit-Token": token}).status_code == 204
    assert api.read().json["thread"]["comment_count"] == 0


def test_a_deleted_comment_cannot_be_edited(api, posted):
    comment_id, token = posted
    api.client.delete(_url(comment_id), headers={"X-Edit-Token": token})
    response = api.client.patch(_url(comment_id), json={"body": "back"}, headers={"X-Edit-Token": token})
    assert response.status_code == 409


def test_unknown_comment_is_404(client, db):
    assert client.get(_url(12345)).status_code == 404
    assert client.patch(_url(12345), json={"body": "x"}).status_code == 404
    assert client.get("/api/v1/comments/not-a-number").status_code == 404
