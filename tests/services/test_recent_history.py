"""Recent history: an author most of whose recent decided comments were rejected goes on premod,
once, audited, and never over a moderator's own decision about them."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from comments import transaction
from comments.models import AuditEvent, Author, Comment
from comments.services import readers
from comments.services.audit import Actor
from comments.services.recent_history import after_decision, recent_history
from comments.services.review import decisions
from tests.helpers import make_comment, set_settings

IP = "192.0.2.77"  # one anonymous author (by address)
MODERATOR = Actor("moderator", "1")


def _post(site, body: str, **extra) -> Comment:
    return make_comment(site, body, ip=IP, author="Rex", **extra)


def _fine(site, n: int) -> None:
    for i in range(n):
        assert _post(site, f"A fine remark number {i}.").status == "published"


def _rude(site, n: int, start: int = 0) -> list[Comment]:
    made = [_post(site, f"You spamword number {start + i}.") for i in range(n)]
    assert {c.status for c in made} == {"rejected"}
    return made


def _author(db, comment: Comment) -> Author:
    db.session.expire_all()
    author = db.session.get(Author, comment.author_id)
    assert author is not None
    return author


def _premods(db) -> list[AuditEvent]:
    events = db.session.query(AuditEvent).filter_by(action="author_status_changed").order_by(AuditEvent.id).all()
    return [e for e in events if e.reasons[0]["code"] == "recent_history"]


@pytest.fixture()
def rules(site):
    """Banned words reject at posting; an author's rejections hold their later comments otherwise
    (the older author-history rule): the fine comments come first."""
    set_settings(site, banned_words=["spamword"], recent_history_count=5, recent_history_threshold=0.6)
    return site


def test_a_rejected_share_at_the_threshold_puts_the_author_on_premod_once(db, rules):
    _fine(rules, 2)
    first, second = _rude(rules, 2)
    assert _author(db, second).status == "active"  # 2 of 4: under 60 %
    (third,) = _rude(rules, 1, start=2)
    author = _author(db, third)
    assert author.status == "premod"
    assert "3 of the author's last 5 decided comments were rejected (60%" in author.status_reason
    (premod,) = _premods(db)
    assert (premod.actor_type, premod.actor_id) == ("system", "recent_history")
    assert premod.comment_id == third.id
    assert premod.reasons[0]["from"] == "active" and premod.reasons[0]["to"] == "premod"
    # On premod the next comment waits for a moderator, and the rule does not fire again.
    held = _post(rules, "A calm and fine remark.")
    assert held.status == "held" and "author_premod" in held.reason_codes
    _rude(rules, 1, start=3)
    assert len(_premods(db)) == 1


def test_fewer_than_three_decided_comments_are_not_a_pattern(db, rules):
    rude = _rude(rules, 2)
    assert recent_history(_author(db, rude[-1])).share == 1.0
    assert _author(db, rude[-1]).status == "active"


@pytest.mark.parametrize(("count", "premod"), [(4, True), (10, False), (0, False)])
def test_only_the_last_n_decided_comments_count(db, site, count, premod):
    set_settings(site, banned_words=["spamword"], recent_history_count=count, recent_history_threshold=0.6)
    _fine(site, 4)
    rude = _rude(site, 3)  # last 4: 3 of 4 rejected; last 10: 3 of 7; 0: the rule is off
    assert (_author(db, rude[-1]).status == "premod") is premod


def test_a_moderator_setting_the_author_back_to_active_is_not_undone_by_old_rejections(db, rules):
    _fine(rules, 2)
    rude = _rude(rules, 3)
    author = _author(db, rude[-1])
    assert author.status == "premod"
    with transaction.unit_of_work():
        readers.set_status(author, readers.AuthorStatus.ACTIVE, MODERATOR, reason="gave them another chance")
    history = recent_history(_author(db, rude[-1]))
    assert (history.decided, history.rejected) == (0, 0)  # only decisions after the moderator's count
    with transaction.unit_of_work():
        assert after_decision(db.session.get(Comment, rude[-1].id)) is False
    more = _rude(rules, 2, start=3)
    assert _author(db, more[-1]).status == "active"  # two new decisions: too few
    again = _rude(rules, 1, start=5)
    assert _author(db, again[-1]).status == "premod"
    assert len(_premods(db)) == 2


@pytest.mark.parametrize("status", ["premod", "suspended", "banned"])
def test_a_moderators_own_status_is_left_alone(db, rules, status):
    _fine(rules, 1)
    first = _rude(rules, 1)[0]
    with transaction.unit_of_work():
        readers.set_status(_author(db, first), readers.AuthorStatus(status), MODERATOR)
    _rude(rules, 3, start=1)
    assert _author(db, first).status == status
    assert _premods(db) == []


def test_undecided_withdrawn_and_unscored_comments_do_not_count(db, rules):
    _fine(rules, 2)
    rude = _rude(rules, 2)
    unscored = _post(rules, "Published while the classifier was down.")
    with db.engine.begin() as conn:
        # held (no decision yet), deleted by its author, published while the classifier was down
        conn.execute(text("UPDATE comments SET status = 'held' WHERE id = :i"), {"i": rude[0].id})
        conn.execute(
            text("UPDATE comments SET status = 'published', needs_scoring = true WHERE id = :i"), {"i": unscored.id}
        )
    deleted = _post(rules, "Soon withdrawn.")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE comments SET status = 'deleted' WHERE id = :i"), {"i": deleted.id})
    author = _author(db, rude[-1])
    assert author.status == "active"  # 2 of 4 when posted
    history = recent_history(author)
    assert (history.decided, history.rejected) == (3, 1)


def test_the_classifiers_rejections_run_the_rule(db, rules):
    set_settings(rules, reject_thresholds={"toxicity": 0.9})
    _fine(rules, 2)
    toxic = {"toxicity": 0.95}
    made = [_post(rules, f"Nasty thing {i}", scores=toxic) for i in range(3)]
    assert [c.status for c in made] == ["rejected"] * 3
    assert _author(db, made[-1]).status == "premod"
    assert _premods(db)[0].comment_id == made[-1].id


def test_a_moderators_rejection_runs_the_rule_and_its_undo_lifts_the_premod(db, rules, moderator):
    set_settings(rules, premoderation="all")
    waiting = [_post(rules, f"Borderline remark {i}.") for i in range(5)]
    for comment in waiting[:2]:
        decisions.decide(moderator, comment.id, "approve")
    for comment in waiting[2:4]:
        decisions.decide(moderator, comment.id, "reject", reason="abuse")
    db.session.commit()
    assert _author(db, waiting[0]).status == "active"  # 2 of 4: under 60 %
    decisions.decide(moderator, waiting[4].id, "reject", reason="abuse")
    db.session.commit()
    assert _author(db, waiting[0]).status == "premod"
    assert _premods(db)[0].comment_id == waiting[4].id
    decisions.undo_decision(moderator, waiting[4].id)
    db.session.commit()
    author = _author(db, waiting[0])
    assert author.status == "active" and db.session.get(Comment, waiting[4].id).status == "held"


def test_a_moderators_approval_can_complete_the_pattern(db, rules, moderator):
    """Two rejections and an approval are three decided comments, 67 % rejected."""
    set_settings(rules, premoderation="all")
    waiting = [_post(rules, f"Borderline remark {i}.") for i in range(3)]
    for comment in waiting[:2]:
        decisions.decide(moderator, comment.id, "reject")
    decisions.decide(moderator, waiting[2].id, "approve")
    db.session.commit()
    assert _author(db, waiting[0]).status == "premod"


def test_the_history_is_one_query_through_the_authors_index(db, rules):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    _fine(rules, 2)
    author = _author(db, _rude(rules, 1)[0])
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    author.site  # noqa: B018 (loaded before counting: the site comes with the caller's comment)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        history = recent_history(author)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert (history.decided, history.rejected) == (3, 1)
    ((statement, params),) = statements
    connection = db.session.connection()
    plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params))
    assert "ix_comments_author_id" in plan and "SCAN comments" not in plan and "TEMP B-TREE" not in plan, plan


def test_an_edit_the_rules_reject_counts(db, rules):
    from comments.services.submission import resubmit

    _fine(rules, 1)
    last_fine = _post(rules, "Fine for now.")
    rude = _rude(rules, 2)
    assert _author(db, rude[-1]).status == "active"  # 2 of 4
    with transaction.unit_of_work():
        resubmit(db.session.get(Comment, last_fine.id), "Now with spamword in it.")
    assert db.session.get(Comment, last_fine.id).status == "rejected"
    assert _author(db, rude[-1]).status == "premod"  # 3 of 4


def test_the_code_has_plain_words():
    from comments.services import moderation, recent_history

    assert moderation.reason_text(recent_history.CODE) == "Most of the author's recent comments were rejected"


def test_after_a_status_change_the_history_reads_the_decisions_since_not_every_comment(db, rules, moderator):
    """Many comments before the change, a few decisions after: the read seeks the decisions since
    the change through ix_comments_author_decided (SQLite's plan), and counts a decision made
    since on an old comment."""
    set_settings(rules, premoderation="all")
    old = [_post(rules, f"An old held remark {i}.") for i in range(30)]
    author = _author(db, old[0])
    with transaction.unit_of_work():
        readers.set_status(author, readers.AuthorStatus.ACTIVE, MODERATOR, reason="a fresh start")
    decisions.decide(moderator, old[0].id, "reject")  # an old comment, decided since the change
    db.session.commit()
    history = recent_history(_author(db, old[0]))
    assert (history.decided, history.rejected) == (1, 1)
    if db.engine.dialect.name != "sqlite":
        return
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    author = _author(db, old[0])
    author.site  # noqa: B018 (loaded before counting)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        recent_history(author)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    ((statement, params),) = statements
    connection = db.session.connection()
    plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params))
    # A range seek bounded by the change, in the index's order: no sort, no walk through the old comments.
    assert "USING INDEX ix_comments_author_decided (author_id=? AND <expr>>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
