"""The submission pipeline's rules: pre-moderation modes, word lists, duplicates, repeats."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from comments.models import Author, Comment, Status
from comments.services import moderation, rendering, submission
from comments.services.errors import Conflict, Forbidden
from comments.services.sites import DEFAULT_SETTINGS
from tests.helpers import set_settings


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
            results.append(
                client.post(
                    "/api/v1/sites/news/threads/race/comments", json={"body": f"from {name}", "author_name": name}
                ).status_code
            )

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

    result = submission.submit(
        site, "defaults", submission.NewComment(body="Hello *there*", author_name="Ann", client_ip="198.51.100.7")
    )
    comment = result.comment
    assert db.session.get(Comment, comment.id) is comment
    assert (
        comment.version,
        comment.reply_count,
        comment.report_count,
        comment.needs_scoring,
        comment.scores,
        comment.reported_at,
        comment.edited_at,
    ) == (1, 0, 0, False, None, None, None)
    assert comment.updated_at >= comment.created_at
    assert comment.body_html == "<p>Hello <em>there</em></p>" and comment.thread.key == "defaults"

    comment.author_name = "Ann B."
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Comment, result.comment_id)
    assert (again.author_name, again.version, again.status) == ("Ann B.", 2, "published")


def test_a_signed_in_post_derives_the_readers_keys_once(site, db, monkeypatch):
    """The email's hash and the author key (keyed hashes) are derived once, and the comment and the
    author record get the same ones."""
    import dataclasses

    from comments.services import readers
    from tests.helpers import signed_in

    derived: list[str] = []
    real_keyed_hash, real_hash_email = readers.keyed_hash, readers.hash_email

    def keyed_hash(purpose: str, value: str) -> str:
        derived.append(purpose)
        return real_keyed_hash(purpose, value)

    def hash_email(email: str) -> str:
        derived.append("email")
        return real_hash_email(email)

    monkeypatch.setattr(readers, "keyed_hash", keyed_hash)
    for module in (readers, submission):
        monkeypatch.setattr(module, "hash_email", hash_email)
    reader = dataclasses.replace(signed_in("u-1", "Una"), email="Una@Example.org")
    result = submission.submit(site, "keys", submission.NewComment(body="Signed in.", author_name=None, reader=reader))
    assert sorted(derived) == ["email", "sso-user"]
    comment = result.comment
    assert (comment.author.author_key, comment.author.email_hash) == (comment.author_key, comment.author_email_hash)
    assert comment.author_key == readers.sso_author_key(site, "u-1")
    assert comment.author_email_hash == real_hash_email("una@example.org")


# --- the rules and reply placement as pure functions (no app, no database) --------------------


def _draft(
    body: str = "A thoughtful comment.",
    *,
    author: str = "Ann",
    closed: bool = False,
    editing: Any = None,
    author_status: str = "active",
    verified: bool = False,
    **history: Any,
) -> submission.Draft:
    """A draft whose author history is given, so that no rule needs the database."""
    settings = {**DEFAULT_SETTINGS, "banned_words": ["scamcoin", "buy followers"], "suspect_words": ["crypto"]}
    known = {
        "duplicate_here": False,
        "repeated_elsewhere": False,
        "approved_before": True,
        "rejected_recently": 0,
        **history,
    }
    return submission.Draft(
        site=SimpleNamespace(id=1),
        settings=settings,
        thread=SimpleNamespace(id=1, closed=closed),
        parent=None,
        body=body,
        body_html=rendering.render(body),
        author_name=author,
        author_key="k",
        author=Author(status=author_status, verified=verified, status_until=None),
        fingerprint="f",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        editing=editing,
        history=submission.AuthorHistory(**known),
    )


def test_word_rules_match_whole_words_folded_in_the_body_and_the_name():
    assert submission.banned_words(_draft("Get SCAMCOIN, or ｂｕｙ  followers? buy followers!")) == {
        "kind": "rule",
        "code": "banned_word",
        "effect": moderation.REJECT,
        "words": ["buy followers", "scamcoin"],
    }
    assert submission.banned_words(_draft("hello", author="ScamCoin Sam"))["words"] == ["scamcoin"]
    assert submission.banned_words(_draft("scamcoins, antiscamcoin and cryptography")) is None
    assert submission.suspect_words(_draft("Crypto!")) == {
        "kind": "rule",
        "code": "suspect_word",
        "effect": moderation.HOLD,
        "words": ["crypto"],
    }
    assert submission.suspect_words(_draft("cryptography")) is None


def test_an_empty_or_blank_word_list_matches_nothing():
    draft = _draft("anything at all")
    draft.settings["banned_words"] = ["", "  "]
    assert submission.banned_words(draft) is None


@pytest.mark.parametrize(
    ("mode", "body", "approved_before", "code"),
    [
        ("none", "see https://x.example", False, None),
        ("all", "plain words", True, "premoderation_all"),
        ("links", "plain words", True, None),
        ("links", "see https://x.example", True, "premoderation_links"),
        ("first-comment", "plain words", True, None),
        ("first-comment", "plain words", False, "premoderation_first_comment"),
    ],
)
def test_premoderation_modes(mode, body, approved_before, code):
    draft = _draft(body, approved_before=approved_before)
    draft.settings["premoderation"] = mode
    reason = submission.premoderation(draft)
    assert (reason and reason["code"]) == code
    assert reason is None or reason["effect"] == moderation.HOLD


def test_an_edit_of_a_published_comment_is_no_first_comment():
    draft = _draft(approved_before=False, editing=SimpleNamespace(id=5, status=Status.PUBLISHED))
    draft.settings["premoderation"] = "first-comment"
    assert submission.premoderation(draft) is None
    draft = _draft(approved_before=False, editing=SimpleNamespace(id=5, status=Status.HELD))
    draft.settings["premoderation"] = "first-comment"
    assert submission.premoderation(draft)["code"] == "premoderation_first_comment"


def test_history_rules_hold_repeats_banned_authors_and_authors_rejected_twice():
    assert submission.not_a_repeat(_draft(repeated_elsewhere=True))["code"] == "repeat_post"
    assert submission.author_status(_draft(author_status="banned"))["code"] == "author_banned"
    assert submission.author_status(_draft(author_status="premod"))["code"] == "author_premod"
    assert submission.author_status(_draft()) is None
    below = submission.REJECTIONS_BEFORE_HOLD - 1
    assert submission.author_record(_draft(rejected_recently=below)) is None
    assert submission.author_record(_draft(rejected_recently=below + 1)) == {
        "kind": "rule",
        "code": "author_history",
        "effect": moderation.HOLD,
        "rejected_recently": below + 1,
    }


def test_a_closed_thread_and_a_duplicate_are_refused_not_held():
    with pytest.raises(Forbidden) as closed:
        submission.thread_open(_draft(closed=True))
    assert closed.value.code == "thread_closed"
    with pytest.raises(Conflict) as duplicate:
        submission.not_a_duplicate(_draft(duplicate_here=True))
    assert duplicate.value.code == "duplicate_comment"


def test_apply_rules_keeps_every_reason_in_rule_order():
    draft = _draft("crypto scamcoin at https://x.example", repeated_elsewhere=True)
    draft.settings["premoderation"] = "links"
    codes = [reason["code"] for reason in submission.apply_rules(draft)]
    assert codes == ["banned_word", "suspect_word", "premoderation_links", "repeat_post"]
    assert submission.apply_rules(_draft()) == []


def _chain(length: int) -> list[SimpleNamespace]:
    """A root and its replies, each answering the one before (depths 0, 1, 2...)."""
    chain: list[SimpleNamespace] = []
    for depth in range(length):
        parent = chain[-1] if chain else None
        chain.append(SimpleNamespace(id=10 + depth, depth=depth, parent=parent, root_id=chain[0].id if chain else None))
    return chain


def test_a_comment_without_a_parent_is_a_root():
    assert submission.place_reply(None, max_depth=6) == (None, None, 0, None)


def test_a_reply_under_the_depth_cap_goes_under_its_parent():
    root, first, second = _chain(3)
    assert submission.place_reply(root, max_depth=6) == (root.id, root.id, 1, None)
    assert submission.place_reply(second, max_depth=6) == (second.id, root.id, 3, None)


def test_a_reply_past_the_depth_cap_goes_under_the_deepest_allowed_ancestor_and_names_whom_it_answers():
    root, first, second, third = _chain(4)
    # max_depth 3: depths 0, 1 and 2.
    assert submission.place_reply(first, max_depth=3) == (first.id, root.id, 2, None)
    assert submission.place_reply(second, max_depth=3) == (first.id, root.id, 2, second.id)
    assert submission.place_reply(third, max_depth=3) == (first.id, root.id, 2, third.id)


def test_with_the_smallest_cap_replies_stay_one_level_under_the_root():
    root, first, second = _chain(3)
    assert submission.place_reply(root, max_depth=1) == (root.id, root.id, 1, None)
    assert submission.place_reply(second, max_depth=1) == (root.id, root.id, 1, second.id)


@pytest.mark.parametrize(
    ("enabled", "premoderation", "banned", "status"),
    [
        (False, "none", False, Status.PUBLISHED),
        (False, "all", False, Status.HELD),
        (True, "none", False, Status.PENDING),
        (True, "all", False, Status.PENDING),
        (True, "none", True, Status.REJECTED),  # a rejected comment needs no scores
        (False, "none", True, Status.REJECTED),
    ],
)
def test_a_comment_waits_for_the_classifier_unless_a_rule_rejects_it(enabled, premoderation, banned, status):
    draft = _draft("scamcoin" if banned else "plain words")
    draft.settings["premoderation"] = premoderation
    scoring = SimpleNamespace(enabled=enabled, enqueue=lambda ids: None)
    decided, _reasons = submission._status_for(submission.apply_rules(draft), draft.settings, scoring)
    assert decided == status
