"""Signed-in authors and their own comments through HTTP: reading them while held, editing and
deleting with the sign-in token alone, refused when moderators stopped them; reports counted by
the reader, not their address."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from comments.models import Author, AuthorStatus, Comment, Report, Status, utcnow
from comments.services import readers
from comments.services.sites import create_site
from tests.helpers import TEST_DATABASE_URL, bearer, new_sso_secret, set_settings, sso_token


def _url(comment_id: int) -> str:
    return f"/api/v1/comments/{comment_id}"


@pytest.fixture()
def ann(secret):
    return bearer(sso_token(secret, user={"id": "ann", "username": "Ann", "badges": ["subscriber"]}))


@pytest.fixture()
def bob(secret):
    return bearer(sso_token(secret, user={"id": "bob", "username": "Bob"}))


def _post(api, headers, body="My signed-in comment.", **extra):
    response = api.client.post(api.thread_url(), json={"body": body, **extra}, headers=headers)
    assert response.status_code in (201, 202), response.json
    return response.json["comment"]["id"]


def _set_status(db, user_id: str, status: AuthorStatus, until=None) -> None:
    author = db.session.execute(select(Author).where(Author.sso_user_id == user_id)).scalar_one()
    author.status = status.value
    author.status_until = until
    db.session.commit()


# --- reading one's own comment ----------------------------------------------------------------


def test_a_signed_in_author_sees_their_held_comment_and_no_one_else_does(api, site, ann, bob):
    set_settings(site, premoderation="all")
    comment_id = _post(api, ann)
    assert api.client.get(_url(comment_id)).status_code == 404
    assert api.client.get(_url(comment_id), headers=bob).status_code == 404
    own = api.client.get(_url(comment_id), headers=ann)
    assert own.status_code == 200
    assert own.json["comment"]["status"] == "held"
    assert own.json["comment"]["moderation_note"] == "Your comment is waiting for review by a moderator."
    assert own.json["comment"]["author_badges"] == ["subscriber"]


def test_the_same_reader_id_on_another_site_is_another_person(api, db, site, ann):
    set_settings(site, premoderation="all")
    comment_id = _post(api, ann)
    other, _ = create_site("other", [])
    db.session.commit()
    # A token of the other site for the same user.id: the comment is not theirs here (and the token
    # is not even valid for this site, which is what the reader's browser would send).
    other_token = bearer(sso_token(new_sso_secret(other), user={"id": "ann", "username": "Ann"}))
    assert api.client.get(_url(comment_id), headers=other_token).status_code == 401


# --- editing and deleting with the token ------------------------------------------------------


def test_a_signed_in_author_edits_with_the_token_alone(api, db, ann):
    comment_id = _post(api, ann)
    response = api.client.patch(_url(comment_id), json={"body": "Edited *words*."}, headers=ann)
    assert response.status_code == 200, response.json
    assert response.json["comment"]["body_html"] == "<p>Edited <em>words</em>.</p>"
    assert response.json["comment"]["author_verified"] is True


def test_another_reader_cannot_edit_or_delete_it(api, db, ann, bob):
    comment_id = _post(api, ann)
    for send in (
        lambda: api.client.patch(_url(comment_id), json={"body": "hijacked"}, headers=bob),
        lambda: api.client.delete(_url(comment_id), headers=bob),
    ):
        response = send()
        assert response.status_code == 403
        assert response.json["error"]["code"] == "not_comment_author"
    assert db.session.get(Comment, comment_id).body == "My signed-in comment."


def test_a_signed_in_reader_cannot_take_over_an_anonymous_comment(api, db, ann):
    posted = api.post("anonymous words", "Ann")
    comment_id = posted.json["comment"]["id"]
    response = api.client.patch(_url(comment_id), json={"body": "mine now"}, headers=ann)
    assert response.status_code == 403 and response.json["error"]["code"] == "not_comment_author"
    # With the edit token as well, the edit token decides: it is the anonymous author's proof.
    both = {**ann, "X-Edit-Token": posted.json["edit_token"]}
    assert api.client.patch(_url(comment_id), json={"body": "edited"}, headers=both).status_code == 200


def test_an_edit_token_still_works_for_anonymous_comments_and_is_checked(api, secret):
    posted = api.post("anonymous words", "Ann")
    comment_id, token = posted.json["comment"]["id"], posted.json["edit_token"]
    assert api.client.patch(_url(comment_id), json={"body": "x"}, headers={"X-Edit-Token": "junk"}).status_code == 403
    ok = api.client.patch(_url(comment_id), json={"body": "better"}, headers={"X-Edit-Token": token})
    assert ok.status_code == 200 and ok.json["comment"]["body"] == "better"
    assert api.client.patch(_url(comment_id), json={"body": "x"}).json["error"]["code"] == "edit_token_missing"


def test_a_signed_in_author_deletes_with_the_token_alone(api, db, ann):
    comment_id = _post(api, ann)
    assert api.client.delete(_url(comment_id), headers=ann).status_code == 204
    comment = db.session.get(Comment, comment_id)
    assert comment.status == Status.DELETED and comment.body == ""
    assert api.read().json["comments"] == []


def test_the_edit_window_holds_for_the_token_too(api, db, ann):
    comment_id = _post(api, ann)
    comment = db.session.get(Comment, comment_id)
    comment.created_at = utcnow() - timedelta(days=1)
    db.session.commit()
    response = api.client.patch(_url(comment_id), json={"body": "late"}, headers=ann)
    assert response.status_code == 403 and response.json["error"]["code"] == "edit_window_closed"


@pytest.mark.parametrize(
    "status,code", [(AuthorStatus.BANNED, "author_banned"), (AuthorStatus.SUSPENDED, "author_suspended")]
)
def test_a_stopped_author_cannot_edit_or_post_but_may_delete(api, db, ann, status, code):
    comment_id = _post(api, ann)
    until = utcnow() + timedelta(days=3) if status == AuthorStatus.SUSPENDED else None
    _set_status(db, "ann", status, until)
    edit = api.client.patch(_url(comment_id), json={"body": "one more thing"}, headers=ann)
    assert edit.status_code == 403 and edit.json["error"]["code"] == code
    if until is not None:
        assert edit.json["error"]["fields"]["until"].endswith("Z")
    assert db.session.get(Comment, comment_id).body == "My signed-in comment."
    post = api.client.post(api.thread_url(), json={"body": "new one"}, headers=ann)
    assert post.status_code == 403 and post.json["error"]["code"] == code
    assert db.session.execute(select(func.count()).select_from(Comment)).scalar_one() == 1
    assert api.client.delete(_url(comment_id), headers=ann).status_code == 204


def test_a_suspension_that_ran_out_lets_them_post_again(api, db, ann):
    _post(api, ann)
    _set_status(db, "ann", AuthorStatus.SUSPENDED, utcnow() - timedelta(seconds=1))
    assert api.client.post(api.thread_url(), json={"body": "back again"}, headers=ann).status_code == 201


def test_a_premod_authors_edit_is_held(api, db, ann):
    comment_id = _post(api, ann)
    _set_status(db, "ann", AuthorStatus.PREMOD)
    edited = api.client.patch(_url(comment_id), json={"body": "edited while on premod"}, headers=ann)
    assert edited.status_code == 200 and edited.json["comment"]["status"] == "held"


# --- reports ------------------------------------------------------------------------------------


def test_a_signed_in_readers_report_counts_once_wherever_they_report_from(api, db, site, ann, bob):
    set_settings(site, report_threshold=2)
    comment_id = _post(api, bob)
    for ip in ("192.0.2.50", "192.0.2.51"):
        response = api.client.post(
            f"/api/v1/comments/{comment_id}/reports",
            json={"reason": "spam"},
            headers=ann,
            environ_base={"REMOTE_ADDR": ip},
        )
        assert response.status_code == 202
    comment = db.session.get(Comment, comment_id)
    assert comment.report_count == 1 and comment.reported_at is None
    reporter = db.session.execute(select(Report.reporter_hash)).scalar_one()
    assert reporter == readers.sso_author_key(site, "ann")


def test_readers_behind_one_address_are_counted_apart_when_signed_in(api, db, site, ann, bob, secret):
    set_settings(site, report_threshold=2)
    comment_id = _post(api, bob)
    carol = bearer(sso_token(secret, user={"id": "carol", "username": "Carol"}))
    for who in (ann, carol):
        response = api.client.post(
            f"/api/v1/comments/{comment_id}/reports",
            json={"reason": "abuse"},
            headers=who,
            environ_base={"REMOTE_ADDR": "203.0.113.1"},  # one newsroom's office
        )
        assert response.status_code == 202
    comment = db.session.get(Comment, comment_id)
    assert comment.report_count == 2 and comment.reported_at is not None


def test_anonymous_reports_are_still_counted_by_address(api, db, site, ann):
    comment_id = _post(api, ann)
    for _ in range(2):
        api.client.post(
            f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"}, environ_base={"REMOTE_ADDR": "192.0.2.9"}
        )
    assert db.session.get(Comment, comment_id).report_count == 1


@pytest.mark.parametrize(
    "status,code", [(AuthorStatus.BANNED, "author_banned"), (AuthorStatus.SUSPENDED, "author_suspended")]
)
def test_a_stopped_signed_in_reader_cannot_report_as_they_cannot_post(api, db, site, ann, bob, status, code):
    set_settings(site, report_threshold=1)
    comment_id = _post(api, bob)
    _post(api, ann, body="Ann's own comment, so that she has a record.")
    until = utcnow() + timedelta(days=3) if status == AuthorStatus.SUSPENDED else None
    _set_status(db, "ann", status, until)
    refused = api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "abuse"}, headers=ann)
    assert refused.status_code == 403 and refused.json["error"]["code"] == code
    if until is not None:
        assert refused.json["error"]["fields"]["until"].endswith("Z")
    comment = db.session.get(Comment, comment_id)
    assert comment.report_count == 0 and comment.reported_at is None
    assert db.session.query(Report).count() == 0
    # Anonymous reporters are not asked who they are: from the same address, a report still counts.
    anonymous = api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "abuse"})
    assert anonymous.status_code == 202
    # Once the suspension runs out, or the ban is lifted, they report again.
    _set_status(db, "ann", AuthorStatus.ACTIVE)
    again = api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "abuse"}, headers=ann)
    assert again.status_code == 202
    assert db.session.get(Comment, comment_id).report_count == 2


def test_a_signed_in_reader_without_a_record_yet_reports_under_their_key(api, db, site, ann, bob):
    comment_id = _post(api, bob)
    assert (
        api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"}, headers=ann).status_code
        == 202
    )
    assert db.session.execute(select(Report.reporter_hash)).scalar_one() == readers.sso_author_key(site, "ann")


# --- the same new reader posting twice at once ------------------------------------------------------


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="two writers at once need PostgreSQL (SQLite takes one at a time)")
def test_two_first_posts_of_a_new_reader_at_once_are_both_stored(app, db, ann, monkeypatch):
    both_looked = threading.Barrier(2, timeout=10)
    looked = threading.local()
    real_find = readers._find

    def find_together(site_id, author_key):
        found = real_find(site_id, author_key)
        if not getattr(looked, "once", False):
            looked.once = True
            both_looked.wait()  # both requests have seen no author before either makes one
        return found

    monkeypatch.setattr(readers, "_find", find_together)
    statuses: list[int] = []

    def first_post(key: str) -> None:
        response = app.test_client().post(
            f"/api/v1/sites/news/threads/{key}/comments", json={"body": f"First words on {key}."}, headers=ann
        )
        statuses.append(response.status_code)

    # Two threads of comments: the posts race for the author only, not for a new thread's row.
    workers = [threading.Thread(target=first_post, args=(key,)) for key in ("race-a", "race-b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert statuses == [201, 201]
    assert db.session.execute(select(func.count()).select_from(Author)).scalar_one() == 1
    author_ids = db.session.scalars(select(Comment.author_id)).all()
    assert len(author_ids) == 2 and len(set(author_ids)) == 1
