"""Figures for moderators: the queue's flow per day, waiting times, and what thresholds would hold.

Read-only; the dashboard shows them. Days are UTC days.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from sqlalchemy import func, select, true

from comments.extensions import db
from comments.models import Comment, ModerationDay, Moderator, Queue, QueueWait, Site, utcnow
from comments.services.review.access import visible_site_ids
from comments.services.review.queue import COUNT_LIMIT, bounded_count, queue_condition
from comments.services.sites import CLASSIFIER_LABELS, effective_settings


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


# The median time to a decision is taken over at most this many of the period's latest decisions:
# a bounded read of queue_waits' index, however busy the sites are.
MEDIAN_SAMPLE = 1000


def moderation_stats(moderator: Moderator, *, site_slug: str | None = None, days: int = 14) -> Stats:
    """Held, approved and rejected per day for the last ``days`` days; the oldest waiting item;
    the median time from a comment entering the queue to a moderator's decision.

    The figures are kept as decisions happen (``services.figures``); this reads a few rows per day
    and site, and bounded index ranges for the rest.
    """
    site_ids = visible_site_ids(moderator, site_slug)
    today = utcnow().date()
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    per_day = {today - timedelta(days=i): DayFigures(today - timedelta(days=i)) for i in range(days)}
    query = (
        select(
            ModerationDay.day,
            func.sum(ModerationDay.held),
            func.sum(ModerationDay.approved),
            func.sum(ModerationDay.rejected),
        )
        .where(ModerationDay.day >= first_day)
        .group_by(ModerationDay.day)
    )
    if site_ids is not None:
        query = query.where(ModerationDay.site_id.in_(site_ids))
    for day, held_count, approved, rejected in db.session.execute(query):
        figures = per_day.get(day)
        if figures is not None:
            figures.held, figures.approved, figures.rejected = int(held_count), int(approved), int(rejected)

    waiting = min(bounded_count(Queue.HELD, site_ids) + bounded_count(Queue.REPORTED, site_ids), COUNT_LIMIT + 1)
    held, reported = queue_condition(Queue.HELD), queue_condition(Queue.REPORTED)
    scope = Comment.site_id.in_(site_ids) if site_ids is not None else true()
    # When each waiting comment arrived in the queue: held ones when written, reported ones when
    # enough readers reported them; the oldest of both kinds.
    candidates = [
        db.session.execute(
            select(Comment.id, Comment.created_at).where(held, scope).order_by(Comment.created_at, Comment.id).limit(1)
        ).first(),
        db.session.execute(
            select(Comment.id, Comment.reported_at)
            .where(reported, scope)
            .order_by(Comment.reported_at, Comment.id)
            .limit(1)
        ).first(),
    ]
    found = [row for row in candidates if row is not None]
    # Both times are set: created_at always, reported_at in the reported queue.
    oldest_id, oldest = min(found, key=lambda row: cast(datetime, row[1])) if found else (None, None)

    return Stats(
        sorted(per_day.values(), key=lambda d: d.day, reverse=True),
        oldest,
        oldest_id,
        waiting,
        *_decision_times(site_ids, start),
    )


def _decision_times(site_ids: list[int] | None, start: datetime) -> tuple[float | None, int]:
    """Median seconds from entering the queue (held, or queued by reports) to a moderator's decision,
    over the period's latest ``MEDIAN_SAMPLE`` decisions (each comment's last; an undone decision
    does not count) of comments that entered the queue within the period."""
    query = (
        select(QueueWait.seconds)
        .where(QueueWait.decided_at >= start, QueueWait.entered_at >= start, QueueWait.undone.is_(False))
        .order_by(QueueWait.decided_at.desc())
        .limit(MEDIAN_SAMPLE)
    )
    if site_ids is not None:
        query = query.where(QueueWait.site_id.in_(site_ids))
    durations = list(db.session.execute(query).scalars())
    return (statistics.median(durations) if durations else None), len(durations)


# --- what a threshold would hold -----------------------------------------------------------------

PREVIEW_SAMPLE = 500


@dataclass
class ThresholdPreview:
    sample: int  # scored comments looked at
    held_by_label: dict[str, int]  # how many of them each label's threshold would hold
    held_total: int  # held by any label


def threshold_preview(
    site: Site, thresholds: dict[str, float] | None = None, sample: int = PREVIEW_SAMPLE
) -> ThresholdPreview:
    """How many of the site's last ``sample`` scored comments each threshold would have held,
    from the scores stored with them (nothing is scored again)."""
    current = effective_settings(site)["thresholds"]
    thresholds = {**current, **(thresholds or {})}
    rows = (
        db.session.execute(
            select(Comment.scores)
            .where(Comment.site_id == site.id, Comment.scores.is_not(None))
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(sample)
        )
        .scalars()
        .all()
    )
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
