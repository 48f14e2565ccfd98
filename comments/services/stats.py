"""Figures for moderators: the queue's flow per day, waiting times, and what thresholds would hold.

Read-only; the dashboard shows them. Days are UTC days.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true

from comments.extensions import db
from comments.models import AuditEvent, Comment, Moderator, Site, Status, utcnow
from comments.services.review import DECIDERS, _visible_sites
from comments.services.sites import CLASSIFIER_LABELS, effective_settings

# Audit actions that put a comment in front of moderators.
_QUEUED_ACTIONS = ("queued_for_review",)


@dataclass
class DayFigures:
    day: date
    held: int = 0
    approved: int = 0
    rejected: int = 0


@dataclass
class Stats:
    days: list[DayFigures]
    oldest_waiting: datetime | None
    oldest_waiting_id: int | None
    waiting: int
    median_decision_seconds: float | None
    decisions: int


def moderation_stats(moderator: Moderator, *, site_slug: str | None = None, days: int = 14) -> Stats:
    """Held, approved and rejected per day for the last ``days`` days; the oldest waiting item;
    the median time from a comment entering the queue to a moderator's decision."""
    site_ids = _visible_sites(moderator, site_slug)
    today = utcnow().date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    query = select(AuditEvent.comment_id, AuditEvent.action, AuditEvent.actor_type, AuditEvent.to_status,
                   AuditEvent.created_at).where(AuditEvent.created_at >= start, AuditEvent.comment_id.is_not(None))
    if site_ids is not None:
        query = query.where(AuditEvent.site_id.in_(site_ids))
    events = db.session.execute(query.order_by(AuditEvent.id)).all()
    per_day = {today - timedelta(days=i): DayFigures(today - timedelta(days=i)) for i in range(days)}
    held_seen: set[tuple[date, int]] = set()  # a comment held, scored again and still held counts once
    last_decision: dict[int, tuple[DayFigures, str]] = {}
    for event in events:
        figures = per_day.get(event.created_at.date())
        if figures is None:
            continue
        if event.to_status == Status.HELD.value and event.actor_type not in DECIDERS:
            if (figures.day, event.comment_id) not in held_seen:
                held_seen.add((figures.day, event.comment_id))
                figures.held += 1
        elif event.action in ("approved", "rejected"):
            setattr(figures, event.action, getattr(figures, event.action) + 1)
            last_decision[event.comment_id] = (figures, event.action)
        elif event.action == "decision_undone" and event.comment_id in last_decision:
            # An undone decision did not happen, as far as the figures go.
            decided_on, action = last_decision.pop(event.comment_id)
            setattr(decided_on, action, getattr(decided_on, action) - 1)
        elif event.to_status == Status.REJECTED.value and event.actor_type == "system":
            figures.rejected += 1  # rejected automatically (banned words, reject thresholds)

    held = Comment.status == Status.HELD.value
    reported = (Comment.status == Status.PUBLISHED.value) & Comment.reported_at.is_not(None)
    scope = Comment.site_id.in_(site_ids) if site_ids is not None else true()
    waiting = db.session.execute(select(func.count()).select_from(Comment).where(held | reported, scope)).scalar_one()
    # When each waiting comment arrived in the queue: held ones when written, reported ones when
    # enough readers reported them; the oldest of both kinds.
    candidates = [
        db.session.execute(select(Comment.id, Comment.created_at).where(held, scope)
                           .order_by(Comment.created_at, Comment.id).limit(1)).first(),
        db.session.execute(select(Comment.id, Comment.reported_at).where(reported, scope)
                           .order_by(Comment.reported_at, Comment.id).limit(1)).first(),
    ]
    found = [row for row in candidates if row is not None]
    oldest_id, oldest = min(found, key=lambda row: row[1]) if found else (None, None)

    return Stats(sorted(per_day.values(), key=lambda d: d.day, reverse=True), oldest, oldest_id, waiting,
                 *_decision_times(events))


def _decision_times(events: list[Any]) -> tuple[float | None, int]:
    """Median seconds from entering the queue (held, or queued by reports) to a moderator's decision
    (an undone decision does not count; the comment waits on from when it first arrived)."""
    entered: dict[int, datetime] = {}
    decided: dict[int, tuple[datetime, float]] = {}
    for event in events:
        if event.actor_type not in DECIDERS and (event.to_status == Status.HELD.value
                                                or event.action in _QUEUED_ACTIONS):
            entered.setdefault(event.comment_id, event.created_at)
        elif event.action in ("approved", "rejected") and event.actor_type in DECIDERS:
            since = entered.pop(event.comment_id, None)
            if since is not None:
                decided[event.comment_id] = (since, (event.created_at - since).total_seconds())
        elif event.action == "decision_undone" and event.comment_id in decided:
            entered[event.comment_id] = decided.pop(event.comment_id)[0]
    durations = [seconds for _, seconds in decided.values()]
    return (statistics.median(durations) if durations else None), len(durations)


# --- what a threshold would hold -----------------------------------------------------------------

PREVIEW_SAMPLE = 500


@dataclass
class ThresholdPreview:
    sample: int  # scored comments looked at
    held_by_label: dict[str, int]  # how many of them each label's threshold would hold
    held_total: int  # held by any label


def threshold_preview(site: Site, thresholds: dict[str, float] | None = None,
                      sample: int = PREVIEW_SAMPLE) -> ThresholdPreview:
    """How many of the site's last ``sample`` scored comments each threshold would have held,
    from the scores stored with them (nothing is scored again)."""
    current = effective_settings(site)["thresholds"]
    thresholds = {**current, **(thresholds or {})}
    rows = db.session.execute(
        select(Comment.scores).where(Comment.site_id == site.id, Comment.scores.is_not(None))
        .order_by(Comment.created_at.desc(), Comment.id.desc()).limit(sample)).scalars().all()
    held_by_label = dict.fromkeys(CLASSIFIER_LABELS, 0)
    held_total = 0
    for scores in rows:
        if not isinstance(scores, dict):
            continue
        hit = False
        for label in CLASSIFIER_LABELS:
            score = scores.get(label)
            if score is not None and label in thresholds and score >= thresholds[label]:
                held_by_label[label] += 1
                hit = True
        held_total += hit
    return ThresholdPreview(len(rows), held_by_label, held_total)
