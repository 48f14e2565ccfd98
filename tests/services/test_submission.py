"""The submission pipeline's rules: pre-moderation modes, word lists, duplicates, repeats."""

from __future__ import annotations

import pytest

from comments.models import Comment
from tests.conftest import set_settings


def _status(response):
    return response.json["comment"]["status"]


def _reasons(db, response):
    return [r["code"] for r in db.session.get(Comment, response.json["comment"]["id"]).reasons]


def test_premoderation_none_publishes(api, site):
    assert _status(api.post()) == "published"


def test_premoderation_all_holds_everything(api, site, db):
    set_settings(site, premoderation="all")
    response = api.post()
    assert response.status_code == 202
    assert _status(response) == "held"
    assert _reasons(db, response) == ["premoderation_all"]


def test_premoderation_links_holds_only_comments_with_links(api, site, db):
    set_settings(site, premoderation="links")
    assert _status(api.post("no links here")) == "published"
    assert _status(api.post("see https://spam.example", "Bob")) == "held"
    assert _status(api.post("see [this](http://x.example)", "Cat")) == "held"
    assert _status(api.post("mail me: mailto:x@example.com", "Dan")) == "held"


def test_premoderation_first_comment_holds_until_an_author_was_approved(api, site, db):
    set_settings(site, premoderation="first-comment")
    first = api.post("my first comment", author_email="new@reader.example")
    assert _status(first) == "held"
    assert _reasons(db, first) == ["premoderation_first_comment"]
    # Still never approved: held again.
    assert _status(api.post("my second comment", author_email="new@reader.example")) == "held"
    # A moderator approves one (the review queue arrives with the next issue; the status change is
    # the same service call).
    from comments.models import Status
    from comments.services.audit import Actor
    from comments.services.moderation import change_status

    comment = db.session.get(Comment, first.json["comment"]["id"])
    change_status(comment, Status.PUBLISHED, Actor("moderator", "1"), "approved")
    db.session.commit()
    assert _status(api.post("third comment", author_email="NEW@reader.example")) == "published"
    # Another author (another email, same IP) is still new.
    assert _status(api.post("hello", "Other", author_email="other@reader.example")) == "held"


def test_banned_words_reject_and_suspect_words_hold(api, site, db):
    set_settings(site, banned_words=["scamcoin", "buy followers"], suspect_words=["Crypto"])
    rejected = api.post("Get SCAMCOIN today")
    assert rejected.status_code == 202 and _status(rejected) == "rejected"
    assert db.session.get(Comment, rejected.json["comment"]["id"]).reasons[0]["words"] == ["scamcoin"]
    assert _status(api.post("you can buy   followers? no: buy followers!", "B", ip="192.0.2.2")) == "rejected"
    assert _status(api.post("crypto is interesting", "C", ip="192.0.2.3")) == "held"
    # Whole words only: "cryptography" is not "crypto".
    assert _status(api.post("cryptography is maths", "D", ip="192.0.2.4")) == "published"
    # Width/case folding: full-width letters still match.
    assert _status(api.post("ＣＲＹＰＴＯ again", "E", ip="192.0.2.5")) == "held"


def test_banned_words_in_the_author_name_count(api, site):
    set_settings(site, banned_words=["scamcoin"])
    assert _status(api.post("hello", "scamcoin_official")) == "published"  # not a whole word
    assert _status(api.post("hello again", "scamcoin official")) == "rejected"


def test_an_author_with_recent_rejections_is_held(api, site, db):
    set_settings(site, banned_words=["scamcoin"])
    api.post("scamcoin one")
    api.post("scamcoin two")
    response = api.post("an innocent comment now")
    assert _status(response) == "held"
    assert _reasons(db, response) == ["author_history"]
    assert _status(api.post("an innocent comment", "Other", ip="192.0.2.50")) == "published"


def test_a_rejected_comment_still_gets_its_reasons_audited(api, site, db):
    from comments.models import AuditEvent

    set_settings(site, banned_words=["scamcoin"])
    response = api.post("scamcoin")
    event = db.session.query(AuditEvent).filter_by(comment_id=response.json["comment"]["id"]).one()
    assert event.to_status == "rejected"
    assert event.reasons[0]["code"] == "banned_word"


def test_the_same_comment_twice_in_a_thread_is_409(api):
    assert api.post("Exactly the same words").status_code == 201
    again = api.post("exactly   the same WORDS!")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate_comment"
    # Someone else may say the same thing.
    assert api.post("Exactly the same words", "Bob", ip="192.0.2.77").status_code == 201


def test_the_same_comment_under_other_articles_is_held_as_a_repeat(api, db):
    assert _status(api.post("Visit my great site for deals", key="a1")) == "published"
    repeat = api.post("Visit my great site for deals", key="a2")
    assert _status(repeat) == "held"
    assert _reasons(db, repeat) == ["repeat_post"]


def test_rules_combine_and_every_reason_is_recorded(api, site, db):
    set_settings(site, premoderation="links", suspect_words=["deal"])
    response = api.post("a deal at https://x.example")
    assert sorted(_reasons(db, response)) == ["premoderation_links", "suspect_word"]


@pytest.mark.parametrize("settings", [{"duplicate_window_seconds": 0}, {"repeat_window_seconds": 0}])
def test_duplicate_and_repeat_detection_can_be_switched_off(api, site, settings):
    set_settings(site, **settings)
    key = "article-1" if "duplicate_window_seconds" in settings else "other"
    api.post("same")
    assert api.post("same", key=key).status_code == 201


def test_concurrent_first_comments_share_one_thread(app, site, db):
    """Two first comments on a new article racing to create its thread both land."""
    import threading

    from comments.models import Thread

    client_a, client_b = app.test_client(), app.test_client()
    results = []
    barrier = threading.Barrier(2)

    def post(client, name):
        barrier.wait()
        with app.app_context():
            results.append(client.post("/api/v1/sites/news/threads/race/comments",
                                       json={"body": f"from {name}", "author_name": name}).status_code)

    threads = [threading.Thread(target=post, args=(c, n)) for c, n in [(client_a, "A"), (client_b, "B")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 201]
    db.session.expire_all()
    assert db.session.query(Thread).filter_by(key="race").count() == 1
    assert db.session.query(Comment).count() == 2


def test_a_new_comment_is_stored_with_its_defaults_and_stays_in_the_session(app, site, db):
    """store_new writes the row with one plain INSERT: the object it hands back must be the stored
    row (defaults and id), in the session as if loaded, and a later change to it must still be
    written by the unit of work, version checked."""
    from comments.services import submission

    result = submission.submit(site, "defaults", submission.NewComment(body="Hello *there*", author_name="Ann",
                                                                        client_ip="198.51.100.7"))
    comment = result.comment
    assert db.session.get(Comment, comment.id) is comment
    assert (comment.version, comment.reply_count, comment.report_count, comment.needs_scoring,
            comment.scores, comment.reported_at, comment.edited_at) == (1, 0, 0, False, None, None, None)
    assert comment.updated_at >= comment.created_at
    assert comment.body_html == "<p>Hello <em>there</em></p>" and comment.thread.key == "defaults"

    comment.author_name = "Ann B."
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Comment, result.comment_id)
    assert (again.author_name, again.version, again.status) == ("Ann B.", 2, "published")
