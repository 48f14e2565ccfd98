"""The moderator's decisions and their undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from comments.models import AuditEvent, Comment, utcnow
from comments.services.accounts import create_moderator
from comments.services.errors import Conflict, Forbidden, NotFound
from comments.services.review import decisions
from comments.services.sites import create_site


def test_undo_puts_the_comment_back_and_only_once(db, moderator, waiting):
    comment = waiting[0]
    decisions.decide(moderator, comment.id, "reject", reason="spam")
    restored = decisions.undo_decision(moderator, comment.id)
    assert restored.status == "held" and restored.decided_at is None
    with pytest.raises(Conflict) as nothing:
        decisions.undo_decision(moderator, comment.id)
    assert nothing.value.code == "nothing_to_undo"


def test_a_decision_is_left_to_its_owner_to_commit(db, moderator, waiting):
    """decide changes and flushes; the request (or command) that owns the unit of work commits."""
    comment = waiting[0]
    decided = decisions.decide(moderator, comment.id, "reject", reason="spam")
    assert decided.status == "rejected"
    db.session.rollback()
    assert db.session.get(Comment, comment.id).status == "held"
    assert db.session.query(AuditEvent).filter_by(comment_id=comment.id, action="rejected").count() == 0


def test_a_lost_race_is_already_decided_and_leaves_the_rest_of_the_work(db, moderator, waiting):
    first, second = waiting[0], waiting[1]
    seen = second.version  # what this moderator's page showed
    with db.engine.begin() as conn:  # another moderator's change, committed since
        conn.execute(text("UPDATE comments SET version = version + 1 WHERE id = :c"), {"c": second.id})
    decisions.decide(moderator, first.id, "approve")
    with pytest.raises(Conflict) as lost:
        decisions.decide(moderator, second.id, "approve")
    assert lost.value.code == "already_decided"
    assert lost.value.details["current"]["version"] == seen + 1
    db.session.commit()
    assert db.session.get(Comment, first.id).status == "published"  # the bulk action's other decision stands


def test_undo_refuses_when_someone_changed_the_comment_since(db, moderator, waiting):
    other = create_moderator("other@news.example", "correct horse battery")
    db.session.commit()
    comment = waiting[0]
    decided = decisions.decide(moderator, comment.id, "approve")
    decisions.decide(other, comment.id, "reject", expected_version=decided.version)
    with pytest.raises(Conflict):
        decisions.undo_decision(moderator, comment.id)  # the last decision is not theirs
    assert db.session.get(Comment, comment.id).status == "rejected"


def test_undo_window(db, moderator, waiting):
    comment = waiting[0]
    decisions.decide(moderator, comment.id, "approve")
    db.session.commit()  # the decision's unit of work ends before another connection backdates it
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET created_at = :t WHERE comment_id = :c AND action = 'approved'"),
            {"t": (utcnow() - timedelta(seconds=decisions.UNDO_SECONDS + 5)).replace(tzinfo=None), "c": comment.id},
        )
    db.session.expire_all()
    with pytest.raises(Conflict) as late:
        decisions.undo_decision(moderator, comment.id)
    assert late.value.code == "undo_expired"


def test_undo_checks_the_comment_and_the_site(db, moderator, waiting):
    with pytest.raises(NotFound):
        decisions.undo_decision(moderator, 999999)
    create_site("elsewhere", ["https://elsewhere.example"])
    limited = create_moderator("limited@news.example", "correct horse battery", ["elsewhere"])
    db.session.commit()
    with pytest.raises(Forbidden):
        decisions.undo_decision(limited, waiting[0].id)
