"""The moderator's decisions and their undo, and what the dashboard reads beside them (counts, stats, previews)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from comments.models import AuditEvent, Comment, utcnow
from comments.services import stats
from comments.services.accounts import create_moderator
from comments.services.errors import Conflict, Forbidden, NotFound
from comments.services.review import decisions, queue
from comments.services.sites import create_site
from tests.helpers import make_comment, set_settings


@pytest.fixture()
def waiting(db, site):
    set_settings(site, premoderation="all")
    return [make_comment(site, f"waiting {i}", ip=f"192.0.2.{i}") for i in range(3)]


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
        conn.execute(text("UPDATE audit_events SET created_at = :t WHERE comment_id = :c AND action = 'approved'"),
                     {"t": (utcnow() - timedelta(seconds=decisions.UNDO_SECONDS + 5)).replace(tzinfo=None),
                      "c": comment.id})
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


def test_queue_counts_follow_the_filters(db, moderator, site, waiting):
    set_settings(site, premoderation="all", suspect_words=["crypto"])
    make_comment(site, "crypto again", ip="192.0.2.50")
    decisions.decide(moderator, waiting[0].id, "approve")
    decisions.decide(moderator, waiting[1].id, "reject")
    assert queue.queue_counts(moderator) == {"held": 2, "reported": 0, "rejected": 1, "approved": 1}
    assert queue.queue_counts(moderator, reason="suspect_word")["held"] == 1
    assert queue.queue_counts(moderator, site_slug="news")["held"] == 2


def test_stats_count_per_day_and_forget_undone_decisions(db, moderator, waiting):
    decisions.decide(moderator, waiting[0].id, "approve")
    decisions.decide(moderator, waiting[1].id, "reject")
    decisions.decide(moderator, waiting[2].id, "reject")
    decisions.undo_decision(moderator, waiting[2].id)
    figures = stats.moderation_stats(moderator)
    today = figures.days[0]
    assert (today.held, today.approved, today.rejected) == (3, 1, 1)
    assert len(figures.days) == 14 and all(d.held == 0 for d in figures.days[1:])
    assert figures.waiting == 1 and figures.oldest_waiting_id == waiting[2].id
    assert figures.decisions == 2 and figures.median_decision_seconds is not None
    assert 0 <= figures.median_decision_seconds < 60


def test_stats_oldest_waiting_counts_reported_comments_from_when_they_were_reported(db, moderator, site, api):
    set_settings(site, report_threshold=1)
    old_id = api.post("published long ago").json["comment"]["id"]
    set_settings(site, premoderation="all", report_threshold=1)
    held = make_comment(site, "held now", ip="192.0.2.99")
    api.client.post(f"/api/v1/comments/{old_id}/reports", json={"reason": "spam"})
    figures = stats.moderation_stats(moderator)
    assert figures.waiting == 2
    assert figures.oldest_waiting_id == held.id  # held before the other was reported


def test_threshold_preview_uses_the_stored_scores(db, site):
    for i, score in enumerate((0.95, 0.75, 0.55, 0.2)):
        make_comment(site, f"scored {i}", scores={"toxicity": score, "insult": 0.9 if i == 3 else 0.1},
                     ip=f"192.0.2.{20 + i}")
    make_comment(site, "never scored", ip="192.0.2.30")
    preview = stats.threshold_preview(site)
    assert preview.sample == 4
    assert preview.held_by_label["toxicity"] == 2 and preview.held_by_label["insult"] == 1
    assert preview.held_total == 3
    lower = stats.threshold_preview(site, {"toxicity": 0.5, "insult": 0.95})
    assert lower.held_by_label["toxicity"] == 3 and lower.held_by_label["insult"] == 0 and lower.held_total == 3
    assert stats.threshold_preview(site, sample=2).sample == 2


def test_the_moderation_api_can_undo(client, db, moderator, waiting):
    token = client.post("/api/v1/auth/token", json={"email": "mod@news.example",
                                                     "password": "correct horse battery"}).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    comment_id = waiting[0].id
    assert client.post(f"/api/v1/moderation/comments/{comment_id}/decision", json={"action": "approve"},
                       headers=auth).status_code == 200
    undone = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=auth)
    assert undone.status_code == 200 and undone.json["comment"]["status"] == "held"
    again = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "nothing_to_undo"
    assert client.post("/api/v1/moderation/comments/999999/undo", headers=auth).status_code == 404


def test_a_host_key_with_the_moderate_scope_can_undo_its_own_decision(client, db, site, moderator, waiting):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    created = client.post("/api/v1/sites/news/keys", headers=host, json={"label": "cms", "scopes": ["moderate"]})
    key = {"Authorization": f"Bearer {created.json['api_key']}"}
    comment_id = waiting[0].id
    assert client.post(f"/api/v1/moderation/comments/{comment_id}/decision", json={"action": "reject"},
                       headers=key).status_code == 200
    # A moderator did not make that decision: only the key may undo it.
    with pytest.raises(Conflict):
        decisions.undo_decision(moderator, comment_id)
    undone = client.post(f"/api/v1/moderation/comments/{comment_id}/undo", headers=key)
    assert undone.status_code == 200 and undone.json["comment"]["status"] == "held"
    event = db.session.query(AuditEvent).filter_by(comment_id=comment_id, action="decision_undone").one()
    assert event.actor_type == "host"


def test_the_thread_view_pages_through_every_comment_once(db, site, moderator):
    root = make_comment(site, "first root", ip="192.0.2.40")
    reply = make_comment(site, "a reply", parent_id=root.id, ip="192.0.2.41")
    set_settings(site, premoderation="all")
    others = [make_comment(site, f"later {i}", ip=f"192.0.2.{50 + i}") for i in range(3)]
    deep = make_comment(site, "a late reply", parent_id=reply.id, ip="192.0.2.60")
    seen, cursor = [], None
    for _ in range(5):  # bounded: at most 5 pages of 2
        view = queue.thread_comments(moderator, "news", "article-1", limit=2, cursor=cursor)
        seen.extend((row["comment"].id, row["depth"]) for row in view.rows)
        cursor = view.next_cursor
        if cursor is None:
            break
    assert seen == [(root.id, 0), (reply.id, 1), *((c.id, 0) for c in others), (deep.id, 2)]


def test_the_queues_by_score_keep_unscored_comments_last(db, site, moderator):
    set_settings(site, premoderation="all")
    unscored = make_comment(site, "never scored", ip="192.0.2.70")
    low = make_comment(site, "scored low", scores={"toxicity": 0.8}, ip="192.0.2.71")
    high = make_comment(site, "scored high", scores={"toxicity": 0.95}, ip="192.0.2.72")
    first = queue.list_queue(moderator, "held", sort="score", limit=2)
    rest = queue.list_queue(moderator, "held", sort="score", limit=2, cursor=first.next_cursor)
    assert [i.comment.id for i in first.items + rest.items] == [high.id, low.id, unscored.id]
