"""A person's decision stands over the machine's: the sweep after a classifier outage, host-key
and bulk decisions, undo, an author's edit of a decided comment, and the rescore command."""

from __future__ import annotations

import pytest

from comments.models import AuditEvent, Comment, Status
from comments.services.review import access, decisions
from comments.services.scoring import rescore
from tests.helpers import score_batch
from tests.tasks.test_scoring import Broken

CLEAN = "Thanks for the thoughtful article about the city budget."
TOXIC = "You are a stupid idiot and I will hurt you"


def _stored(db, comment_id) -> Comment:
    db.session.expire_all()
    return db.session.get(Comment, comment_id)


def _held_during_outage(api, db, held_back, body: str) -> dict:
    """A post scored while the classifier was down: held, marked for scoring again."""
    posted = api.post(body).json
    score_batch(Broken(), [posted["comment"]["id"]])
    comment = _stored(db, posted["comment"]["id"])
    assert comment.status == Status.HELD and comment.needs_scoring
    return posted


def _actions(db, comment_id) -> list[tuple[str, str | None, str | None]]:
    events = db.session.query(AuditEvent).filter_by(comment_id=comment_id).order_by(AuditEvent.id)
    return [(e.action, e.from_status, e.to_status) for e in events]


@pytest.mark.parametrize("who", ["moderator", "host key", "bulk"])
def test_an_approval_during_an_outage_stands_when_the_classifier_is_back(
    api, db, site, moderator, held_back, classifier, who
):
    posted = _held_during_outage(api, db, held_back, TOXIC)
    comment_id = posted["comment"]["id"]
    if who == "moderator":
        decisions.decide(moderator, comment_id, "approve")
    elif who == "host key":
        decisions.decide(access.HostReviewer("news", "abcd1234"), comment_id, "approve")
    else:  # the dashboard's bulk decisions name the version each card showed
        decisions.decide(moderator, comment_id, "approve", expected_version=_stored(db, comment_id).version)
    run = score_batch(classifier, older_than_seconds=0)  # the sweep, once the classifier is back
    comment = _stored(db, comment_id)
    assert comment.status == Status.PUBLISHED
    assert comment.scores["toxicity"] >= 0.7 and not comment.needs_scoring  # recorded, not acted on
    assert run.outcomes == {"published": 1}
    assert _actions(db, comment_id) == [
        ("submitted", "pending", "pending"),
        ("scoring_failed", "pending", "held"),
        ("approved", "held", "published"),
    ]
    assert [c["body"] for c in api.read().json["comments"]] == [TOXIC]


def test_a_rejection_during_an_outage_stands_when_the_classifier_is_back(api, db, moderator, held_back, classifier):
    posted = _held_during_outage(api, db, held_back, CLEAN)
    decisions.decide(moderator, posted["comment"]["id"], "reject", reason="spam")
    score_batch(classifier)
    comment = _stored(db, posted["comment"]["id"])
    assert comment.status == Status.REJECTED and comment.scores is not None
    assert api.read().json["comments"] == []


def test_an_undone_approval_gives_the_comment_back_to_the_machine(api, db, moderator, held_back, classifier):
    posted = _held_during_outage(api, db, held_back, TOXIC)
    comment_id = posted["comment"]["id"]
    decisions.decide(moderator, comment_id, "approve")
    decisions.undo_decision(moderator, comment_id)
    comment = _stored(db, comment_id)
    assert comment.status == Status.HELD and comment.decided_at is None and comment.needs_scoring
    score_batch(classifier)
    comment = _stored(db, comment_id)
    assert comment.status == Status.HELD and comment.scores["toxicity"] >= 0.7
    assert [c for c in comment.reasons if c.get("code") == "label_over_threshold"]


def test_an_undo_after_the_scores_came_keeps_the_scores(api, db, moderator, held_back, classifier):
    posted = _held_during_outage(api, db, held_back, CLEAN)
    comment_id = posted["comment"]["id"]
    decisions.decide(moderator, comment_id, "reject")
    score_batch(classifier)  # scores recorded under the moderator's rejection
    decisions.undo_decision(moderator, comment_id)  # the rejection is taken back
    comment = _stored(db, comment_id)
    assert comment.status == Status.HELD and comment.decided_at is None
    assert comment.scores is not None and not comment.needs_scoring


def test_an_authors_edit_of_an_approved_comment_is_scored_as_a_new_text(app, api, db, moderator, held_back, classifier):
    posted = api.post(TOXIC + " (not really)").json
    comment_id = posted["comment"]["id"]
    score_batch(classifier, held_back.ids)
    assert _stored(db, comment_id).status == Status.HELD
    decisions.decide(moderator, comment_id, "approve")
    edited = api.client.patch(
        f"/api/v1/comments/{comment_id}",
        json={"body": TOXIC + " and worse"},
        headers={"X-Edit-Token": posted["edit_token"]},
    )
    assert edited.status_code == 200 and edited.json["comment"]["status"] == "pending"
    comment = _stored(db, comment_id)
    # The approval was of the old text: nothing a person saw stands behind the new one.
    assert comment.decided_at is None
    score_batch(classifier, held_back.ids)
    assert _stored(db, comment_id).status == Status.HELD
    assert api.read().json["comments"] == []


def test_an_authors_edit_cannot_undo_a_rejection(api, db, moderator, held_back, classifier):
    posted = api.post(TOXIC).json
    comment_id = posted["comment"]["id"]
    score_batch(classifier, held_back.ids)
    decisions.decide(moderator, comment_id, "reject")
    db.session.commit()  # the decision's unit of work ends here; the refused edit rolls back only its own
    edited = api.client.patch(
        f"/api/v1/comments/{comment_id}", json={"body": CLEAN}, headers={"X-Edit-Token": posted["edit_token"]}
    )
    assert edited.status_code == 409 and edited.json["error"]["code"] == "not_editable"
    assert _stored(db, comment_id).status == Status.REJECTED


def test_rescore_apply_leaves_every_kind_of_human_decision(api, db, site, moderator, held_back, classifier):
    approved = _held_during_outage(api, db, held_back, TOXIC)["comment"]["id"]
    decisions.decide(moderator, approved, "approve")
    by_host = api.post(TOXIC + " again", ip="192.0.2.7").json["comment"]["id"]
    score_batch(classifier, [by_host])
    decisions.decide(access.HostReviewer("news", "abcd1234"), by_host, "approve")
    rejected = api.post(CLEAN, ip="192.0.2.8").json["comment"]["id"]
    score_batch(classifier, [rejected])
    decisions.decide(moderator, rejected, "reject", expected_version=_stored(db, rejected).version)
    result = rescore(classifier, apply=True, commit_each=db.session.commit)
    assert result.changes == []
    assert [_stored(db, i).status for i in (approved, by_host, rejected)] == ["published", "published", "rejected"]
    assert db.session.query(AuditEvent).filter_by(action="rescored").count() == 0


def test_an_edit_that_races_the_scorers_write_is_not_a_500(app, api, db, held_back, monkeypatch):
    """The scorer (or a moderator) writes the comment between the edit's read and its write."""
    from sqlalchemy import update

    from comments.services import submission

    posted = api.post(CLEAN).json
    comment_id = posted["comment"]["id"]
    real_rules = submission.apply_rules
    raced = []

    def rules_then_a_concurrent_write(draft, rules=None):
        if not raced:
            raced.append(True)
            with db.engine.begin() as connection:
                connection.execute(
                    update(Comment)
                    .where(Comment.id == comment_id)
                    .values(status="published", version=Comment.version + 1)
                )
        return real_rules(draft, rules)

    monkeypatch.setattr(submission, "apply_rules", rules_then_a_concurrent_write)
    edited = api.client.patch(
        f"/api/v1/comments/{comment_id}", json={"body": TOXIC}, headers={"X-Edit-Token": posted["edit_token"]}
    )
    assert edited.status_code == 200, edited.json
    assert edited.json["comment"]["status"] == "pending"
    assert _stored(db, comment_id).body == TOXIC


def test_an_edit_that_loses_the_race_twice_is_a_409_and_changes_nothing(app, api, db, held_back, monkeypatch):
    from sqlalchemy import update

    from comments.services import submission

    posted = api.post(CLEAN).json
    comment_id = posted["comment"]["id"]
    real_rules = submission.apply_rules

    def rules_then_a_concurrent_write_every_time(draft, rules=None):
        with db.engine.begin() as connection:
            connection.execute(update(Comment).where(Comment.id == comment_id).values(version=Comment.version + 1))
        return real_rules(draft, rules)

    monkeypatch.setattr(submission, "apply_rules", rules_then_a_concurrent_write_every_time)
    edited = api.client.patch(
        f"/api/v1/comments/{comment_id}", json={"body": TOXIC}, headers={"X-Edit-Token": posted["edit_token"]}
    )
    assert edited.status_code == 409 and edited.json["error"]["code"] == "changed_meanwhile"
    assert _stored(db, comment_id).body == CLEAN
