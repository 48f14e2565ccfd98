"""The moderation figures kept as decisions happen give what counting the audit log gave.

The oracle below is the read-time computation the stats page used before the figures were kept
(issue 13 item 7), unchanged: a random history of holds, scores, decisions, undos and reports over
three weeks, on a moving clock, must give the same per-day figures, median and number of
decisions, both as kept by the service and as rebuilt from the log (migration 0006's backfill).
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from comments.models import (
    DECIDERS,
    AuditEvent,
    Comment,
    ModerationDay,
    QueueWait,
    Status,
)
from comments.services import figures, stats
from comments.services.review import decisions, queue
from tests.helpers import make_comment, set_settings

# --- the oracle: services/stats.py before the figures were kept --------------------------------------


def oracle(db, now: datetime, days: int = 14) -> tuple[list[tuple[date, int, int, int]], float | None, int]:
    today = now.date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    events = db.session.execute(
        select(
            AuditEvent.comment_id, AuditEvent.action, AuditEvent.actor_type, AuditEvent.to_status, AuditEvent.created_at
        )
        .where(AuditEvent.created_at >= start, AuditEvent.comment_id.is_not(None))
        .order_by(AuditEvent.id)
    ).all()
    per_day = {today - timedelta(days=i): [0, 0, 0] for i in range(days)}
    index = {"held": 0, "approved": 1, "rejected": 2}
    held_seen: set[tuple[date, int]] = set()
    last_decision: dict[int, tuple[date, str]] = {}
    for event in events:
        day = event.created_at.date()
        if day not in per_day:
            continue
        if event.to_status == Status.HELD.value and event.actor_type not in DECIDERS:
            if (day, event.comment_id) not in held_seen:
                held_seen.add((day, event.comment_id))
                per_day[day][0] += 1
        elif event.action in ("approved", "rejected"):
            per_day[day][index[event.action]] += 1
            last_decision[event.comment_id] = (day, event.action)
        elif event.action == "decision_undone" and event.comment_id in last_decision:
            decided_on, action = last_decision.pop(event.comment_id)
            per_day[decided_on][index[action]] -= 1
        elif event.to_status == Status.REJECTED.value and event.actor_type == "system":
            per_day[day][2] += 1
    entered: dict[int, datetime] = {}
    decided: dict[int, tuple[datetime, float]] = {}
    for event in events:
        if event.actor_type not in DECIDERS and (
            event.to_status == Status.HELD.value or event.action == "queued_for_review"
        ):
            entered.setdefault(event.comment_id, event.created_at)
        elif event.action in ("approved", "rejected") and event.actor_type in DECIDERS:
            since = entered.pop(event.comment_id, None)
            if since is not None:
                decided[event.comment_id] = (since, (event.created_at - since).total_seconds())
        elif event.action == "decision_undone" and event.comment_id in decided:
            entered[event.comment_id] = decided.pop(event.comment_id)[0]
    durations = [seconds for _, seconds in decided.values()]
    rows = sorted(((day, *counts) for day, counts in per_day.items()), reverse=True)
    return rows, (statistics.median(durations) if durations else None), len(durations)


def kept(moderator) -> tuple[list[tuple[date, int, int, int]], float | None, int]:
    result = stats.moderation_stats(moderator)
    return (
        [(d.day, d.held, d.approved, d.rejected) for d in result.days],
        result.median_decision_seconds,
        result.decisions,
    )


# --- a history --------------------------------------------------------------------------------------


class Clock:
    """The time audit events are written at (and undo windows are checked against)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def clock(monkeypatch):
    moving = Clock(datetime.now(UTC) - timedelta(days=20))
    for module in (
        "comments.services.audit",
        "comments.services.review.decisions",
        "comments.services.review.queue",
        "comments.services.stats",
        "comments.services.moderation",
    ):
        monkeypatch.setattr(f"{module}.utcnow", moving)
    return moving


def history(db, site, moderator, client, clock: Clock, seed: int, steps: int = 120) -> None:
    rng = random.Random(seed)
    set_settings(site, premoderation="all", report_threshold=2, reject_thresholds={"threat": 0.9})
    made = 0
    for _ in range(steps):  # bounded: steps
        clock.now += timedelta(minutes=rng.choice((1, 7, 45, 180, 600)))
        roll = rng.random()
        held = list(db.session.execute(select(Comment.id).where(Comment.status == "held")).scalars())
        published = list(db.session.execute(select(Comment.id).where(Comment.status == "published")).scalars())
        if roll < 0.3 or not held:
            made += 1
            scores = rng.choice((None, {"toxicity": 0.95}, {"threat": 0.97}, {"toxicity": 0.1}))
            if scores is None:
                set_settings(site, premoderation="all")
            else:
                set_settings(site, premoderation="none")
            make_comment(site, f"comment number {made} {rng.random()}", scores=scores, ip=f"192.0.2.{made % 250}")
        elif roll < 0.6:
            comment_id = rng.choice(held)
            decisions.decide(moderator, comment_id, rng.choice(("approve", "reject")))
            if rng.random() < 0.3:
                clock.now += timedelta(seconds=10)
                decisions.undo_decision(moderator, comment_id)
        elif roll < 0.75 and published:
            comment_id = rng.choice(published)
            for reader in range(2):
                client.post(
                    f"/api/v1/comments/{comment_id}/reports",
                    json={"reason": "spam"},
                    environ_base={"REMOTE_ADDR": f"198.51.100.{reader + rng.randrange(100)}"},
                )
        else:
            reported = list(db.session.execute(select(Comment.id).where(Comment.reported_at.is_not(None))).scalars())
            if reported:
                decisions.decide(moderator, rng.choice(reported), "approve")
        db.session.expire_all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_figures_equal_what_counting_the_audit_log_gave(db, site, moderator, client, clock, seed):
    history(db, site, moderator, client, clock, seed)
    expected = oracle(db, now=clock.now)
    assert sum(d[1] + d[2] + d[3] for d in expected[0]) > 10  # the history did something
    assert kept(moderator) == expected

    # Migration 0006's backfill gives the same tables from the log.
    db.session.execute(delete(ModerationDay))
    db.session.execute(delete(QueueWait))
    figures.rebuild(db.session.connection())
    assert kept(moderator) == expected


def test_an_undone_decision_is_taken_back_on_the_day_it_was_made(db, site, moderator, clock):
    set_settings(site, premoderation="all")
    comment = make_comment(site, "held over midnight")
    clock.now = datetime.combine(clock.now.date(), datetime.max.time(), tzinfo=UTC) - timedelta(seconds=5)
    decisions.decide(moderator, comment.id, "approve")
    clock.now += timedelta(seconds=20)  # the next day
    decisions.undo_decision(moderator, comment.id)
    rows = {row.day: row for row in db.session.execute(select(ModerationDay)).scalars()}
    decided_on = (clock.now - timedelta(seconds=20)).date()
    assert rows[decided_on].approved == 0
    assert kept(moderator) == oracle(db, now=clock.now)


def test_queue_counts_stop_at_the_limit(db, site, moderator, monkeypatch):
    monkeypatch.setattr(queue, "COUNT_LIMIT", 2)
    set_settings(site, premoderation="all")
    for i in range(4):
        make_comment(site, f"held {i}", ip=f"192.0.2.{i}")
    assert queue.queue_counts(moderator)["held"] == 3  # "2+"
    assert stats.moderation_stats(moderator).waiting == 3


def test_a_scoring_batch_that_holds_and_rejects_several_counts_each(db, site, moderator):
    """The scoring worker decides a batch with one audit insert: every comment of it counts."""
    from comments.services.submission import NewComment, submit
    from tests.helpers import FixedClassifier, HeldBackScoring, score_batch

    set_settings(site, reject_thresholds={"threat": 0.9})
    table = {
        f"batch comment {i}": ({"toxicity": 0.95} if i % 3 == 0 else {"threat": 0.97} if i % 3 == 1 else {})
        for i in range(9)
    }
    ids = [
        submit(
            site,
            "article-1",
            NewComment(body=body, author_name=f"A{i}", client_ip=f"192.0.2.{i + 1}"),
            HeldBackScoring(),
        ).comment_id
        for i, body in enumerate(table)
    ]
    db.session.commit()
    run = score_batch(FixedClassifier(table), ids=ids)
    assert run.outcomes == {"held": 3, "rejected": 3, "published": 3}
    db.session.expire_all()
    decisions.decide(moderator, ids[0], "approve")
    decisions.decide(moderator, ids[3], "reject")
    expected = oracle(db, now=datetime.now(UTC))
    assert expected[0][0][1:] == (3, 1, 4)  # held, approved, rejected today (3 auto-rejected)
    assert kept(moderator) == expected


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
        make_comment(
            site, f"scored {i}", scores={"toxicity": score, "insult": 0.9 if i == 3 else 0.1}, ip=f"192.0.2.{20 + i}"
        )
    make_comment(site, "never scored", ip="192.0.2.30")
    preview = stats.threshold_preview(site)
    assert preview.sample == 4
    assert preview.held_by_label["toxicity"] == 2 and preview.held_by_label["insult"] == 1
    assert preview.held_total == 3
    lower = stats.threshold_preview(site, {"toxicity": 0.5, "insult": 0.95})
    assert lower.held_by_label["toxicity"] == 3 and lower.held_by_label["insult"] == 0 and lower.held_total == 3
    assert stats.threshold_preview(site, sample=2).sample == 2
