"""Answering spot checks and taking an answer back (services/review/spot_checks.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from comments import transaction
from comments.extensions import db as _db
from comments.models import Comment, SpotCheck
from comments.services import reports
from comments.services.calibration import evidence
from comments.services.review import decisions, spot_checks
from tests.helpers import make_comment

NEAR = {"toxicity": 0.6}


@pytest.fixture()
def always_drawn():
    evidence.sampler = SimpleNamespace(random=lambda: 0.0)


def _report(comment: Comment, times: int = 3) -> None:
    for i in range(times):
        with transaction.unit_of_work():
            reports.report(_db.session.get(Comment, comment.id), "abuse", "", f"198.51.100.{i + 1}")


def test_undoing_a_fine_answer_leaves_a_later_rejection_of_its_own_alone(db, site, moderator, always_drawn):
    """A "fine" answer removes nothing, so its undo has no removal to take back: the rejection the
    same moderator made afterwards, after readers reported the comment, is a decision of its own."""
    comment = make_comment(site, "almost rude", scores=NEAR)
    spot_checks.answer(moderator, comment.id, "fine")
    db.session.commit()
    _report(comment)
    decisions.decide(moderator, comment.id, "reject", reason="abuse")
    db.session.commit()
    spot_checks.undo_answer(moderator, comment.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(SpotCheck, comment.id).verdict is None
    assert db.session.get(Comment, comment.id).status == "rejected"


def test_undoing_an_answer_without_removal_leaves_a_later_rejection_alone(db, site, moderator, always_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)
    spot_checks.answer(moderator, comment.id, "should_have_been_held")
    db.session.commit()
    _report(comment)
    decisions.decide(moderator, comment.id, "reject", reason="abuse")  # decided on its own, later
    db.session.commit()
    spot_checks.undo_answer(moderator, comment.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(SpotCheck, comment.id).verdict is None
    assert db.session.get(Comment, comment.id).status == "rejected"
