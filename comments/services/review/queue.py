"""The review queues: what waits, why, how many, and the context a moderator reads beside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, TextClause, and_, func, literal, or_, select, tuple_

from comments.extensions import db
from comments.models import (
    QUEUE_VALUES,
    QUEUES_WHERE,
    SCORE_KEY,
    Comment,
    Moderator,
    Queue,
    Reason,
    Report,
    SpotCheck,
    Status,
    Thread,
    utcnow,
)
from comments.services import paging, readers
from comments.services.errors import NotFound
from comments.services.review.access import Reviewer, get_comment, site_for, visible_site_ids
from comments.services.threads import find_thread, rfc3339

QUEUES = QUEUE_VALUES
QUEUE_SORTS = ("oldest", "newest", "score")


def queue_condition(queue: str) -> TextClause:
    """Which comments ``queue`` holds: the text of ``models.QUEUES_WHERE`` (literal statuses), so
    that the queue's partial index is used."""
    return QUEUES_WHERE[queue]


def reason_condition(reason: str) -> ColumnElement[bool]:
    # Codes are [a-z_] only (the API's and the dashboard's QueueQuerySchema checks), so no LIKE
    # wildcard comes from a client.
    return literal(" ").concat(Comment.reason_codes).concat(" ").like(f"% {reason} %")


# --- what an item of the queue is ---------------------------------------------------------------


@dataclass(frozen=True)
class QueueThread:
    site: str
    key: str
    title: str | None
    url: str | None


@dataclass(frozen=True)
class QueueReport:
    reason: str
    note: str | None
    created_at: str | None


@dataclass(frozen=True)
class SpotCheckBrief:
    """Why a comment is in the spot-check queue: drawn with this probability, in this band (how
    near its scores came to the thresholds: far, near, edge), at this time."""

    probability: float
    band: str
    created_at: datetime


@dataclass(frozen=True)
class QueueItem:
    """One comment in a queue, with everything a moderator decides on: the API's ``QueueItemSchema``
    dumps it and the dashboard's cards render it."""

    queue: str
    comment: ModeratorComment
    thread: QueueThread
    parent: ModeratorComment | None
    reasons: list[Reason]
    reports: list[QueueReport]
    arrived_at: str | None
    spot_check: SpotCheckBrief | None = None  # in the spot-check queue only


@dataclass(frozen=True)
class ModeratorComment:
    """A comment as moderators see it: the reader's fields plus scores and the version to decide on.
    The API's ``ModeratorCommentSchema`` dumps it (blanking a tombstone's author and text, as for
    readers); the dashboard shows a deleted comment's author and text to moderators."""

    id: int
    parent_id: int | None
    author_name: str
    body: str
    body_html: str
    status: str
    created_at: datetime
    edited_at: datetime | None
    reply_count: int
    version: int
    scores: dict[str, float] | None
    model: str | None
    scored_at: datetime | None
    report_count: int
    decided_at: datetime | None
    author_key: str
    author_badges: list[str]
    author_verified: bool
    author: readers.AuthorBrief | None  # None: the author's record was erased


Briefs = Mapping[int, readers.AuthorBrief]


def moderator_view(comment: Comment, authors: Briefs | None = None) -> ModeratorComment:
    """``authors``: the briefs of a page's authors (``readers.briefs``), read once for the page;
    without them the comment's own author is read (two queries)."""
    if authors is None:
        authors = readers.briefs([comment.author_id])
    return ModeratorComment(
        id=comment.id,
        parent_id=comment.parent_id,
        author_name=comment.author_name,
        body=comment.body,
        body_html=comment.body_html,
        status=comment.status,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
        reply_count=comment.reply_count,
        version=comment.version,
        scores=comment.scores,
        model=comment.model_name,
        scored_at=comment.scored_at,
        report_count=comment.report_count,
        decided_at=comment.decided_at,
        author_key=comment.author_key[:16],
        author_badges=list(comment.author_badges or []),
        author_verified=bool(comment.author_verified),
        author=authors.get(comment.author_id) if comment.author_id is not None else None,
    )


def page_briefs(comments: list[Comment]) -> dict[int, readers.AuthorBrief]:
    """The briefs of the authors of ``comments`` and of their parents, read once for the page."""
    parents = [c.parent for c in comments if c.parent_id is not None]
    return readers.briefs([c.author_id for c in comments] + [p.author_id for p in parents if p is not None])


def _reports(comment: Comment) -> list[QueueReport]:
    rows = db.session.execute(
        select(Report).where(Report.comment_id == comment.id).order_by(Report.created_at)
    ).scalars()
    return [QueueReport(r.reason, r.note, rfc3339(r.created_at)) for r in rows]


def queue_item(
    comment: Comment, queue: str, authors: Briefs | None = None, check: SpotCheck | None = None
) -> QueueItem:
    thread: Thread = comment.thread
    parent = comment.parent
    if authors is None:
        authors = page_briefs([comment])
    brief = SpotCheckBrief(check.probability, check.band, check.created_at) if check is not None else None
    return QueueItem(
        queue=queue,
        comment=moderator_view(comment, authors),
        thread=QueueThread(comment.site.slug, thread.key, thread.title, thread.url),
        parent=moderator_view(parent, authors) if parent is not None else None,
        reasons=comment.reasons or [],
        reports=_reports(comment) if comment.report_count else [],
        arrived_at=rfc3339(check.created_at if check is not None else (comment.edited_at or comment.created_at)),
        spot_check=brief,
    )


def queue_of(comment: Comment) -> str | None:
    """The review queue a comment is in now (None: pending or deleted)."""
    if comment.status == Status.HELD:
        return Queue.HELD
    if comment.status == Status.REJECTED:
        return Queue.REJECTED
    if comment.status == Status.PUBLISHED:
        if comment.reported_at is not None:
            return Queue.REPORTED
        if comment.decided_at is not None:
            return Queue.APPROVED
    return None


# --- a page of a queue ----------------------------------------------------------------------------


def _encode(sort: str, comment: Comment) -> str:
    if sort == "score":
        return paging.encode_cursor(sort, [comment.max_score if comment.max_score is not None else -1.0, comment.id])
    return paging.date_cursor(sort, comment)


_SCORE_POSITION = (paging.SCORE, paging.ID)


@dataclass
class QueuePage:
    items: list[QueueItem]
    next_cursor: str | None


def list_queue(
    reviewer: Reviewer,
    queue: str,
    *,
    site_slug: str | None = None,
    reason: str | None = None,
    author_id: int | None = None,
    sort: str = "oldest",
    limit: int = 25,
    cursor: str | None = None,
) -> QueuePage:
    """A page of ``queue``; ``author_id`` keeps one author's comments (``Author.id``: the reviewer's
    sites still bound it, so another site's author gives an empty page, as any filter that matches
    nothing)."""
    site_ids = visible_site_ids(reviewer, site_slug)
    if queue == Queue.SPOT_CHECK:
        return _spot_check_page(site_ids, reason, author_id, sort, limit, cursor)
    query = _filtered(select(Comment).where(queue_condition(queue)), site_ids, reason, author_id)
    shape = _SCORE_POSITION if sort == "score" else paging.DATE_POSITION
    position = paging.decode_cursor(sort, cursor, shape) if cursor else None
    if sort in ("oldest", "newest"):
        query = paging.order_by_date(query, sort == "newest", position)
    else:
        if position:
            query = query.where(or_(position[0] > SCORE_KEY, and_(position[0] == SCORE_KEY, Comment.id > position[1])))
        # The indexed expression itself (models.SCORE_KEY): the sort reads ix_comments_*_score.
        query = query.order_by(SCORE_KEY.desc(), Comment.id)
    comments = list(db.session.execute(query.limit(limit + 1)).scalars())
    next_cursor = _encode(sort, comments[limit - 1]) if len(comments) > limit else None
    comments = comments[:limit]
    authors = page_briefs(comments)
    return QueuePage([queue_item(c, queue, authors) for c in comments], next_cursor)


def _filtered(query: Select[Any], site_ids: list[int] | None, reason: str | None, author_id: int | None) -> Select[Any]:
    if site_ids is not None:
        query = query.where(Comment.site_id.in_(site_ids))
    if reason:
        query = query.where(reason_condition(reason))
    if author_id is not None:
        query = query.where(Comment.author_id == author_id)
    return query


def _spot_checks_waiting(*columns: Any) -> Select[Any]:
    """Unanswered checks of comments still published (a comment its author deleted, or that a
    moderator rejected after reports, drops out)."""
    return (
        select(*columns)
        .select_from(SpotCheck)
        .join(Comment, Comment.id == SpotCheck.comment_id)
        .where(SpotCheck.verdict.is_(None), Comment.status == Status.PUBLISHED.value)
    )


def _spot_check_page(
    site_ids: list[int] | None, reason: str | None, author_id: int | None, sort: str, limit: int, cursor: str | None
) -> QueuePage:
    """A page of the spot-check queue: by when the check was drawn (oldest first by default), or
    by score; the items carry the check (probability, band, when)."""
    query = _filtered(_spot_checks_waiting(Comment, SpotCheck), site_ids, reason, author_id)
    if sort == "score":
        position = paging.decode_cursor(sort, cursor, _SCORE_POSITION) if cursor else None
        if position:
            query = query.where(or_(position[0] > SCORE_KEY, and_(position[0] == SCORE_KEY, Comment.id > position[1])))
        query = query.order_by(SCORE_KEY.desc(), Comment.id)
    else:
        position = paging.decode_cursor(sort, cursor, paging.DATE_POSITION) if cursor else None
        key = tuple_(SpotCheck.created_at, SpotCheck.comment_id)
        if sort == "newest":
            if position:
                query = query.where(key < tuple_(*position))
            query = query.order_by(SpotCheck.created_at.desc(), SpotCheck.comment_id.desc())
        else:
            if position:
                query = query.where(key > tuple_(*position))
            query = query.order_by(SpotCheck.created_at, SpotCheck.comment_id)
    rows = [(row[0], row[1]) for row in db.session.execute(query.limit(limit + 1))]
    next_cursor = None
    if len(rows) > limit:
        last_comment, last_check = rows[limit - 1]
        if sort == "score":
            next_cursor = _encode(sort, last_comment)
        else:
            next_cursor = paging.encode_cursor(sort, [last_check.created_at.isoformat(), last_comment.id])
    rows = rows[:limit]
    authors = page_briefs([comment for comment, _ in rows])
    return QueuePage([queue_item(comment, Queue.SPOT_CHECK, authors, check) for comment, check in rows], next_cursor)


# --- how many wait --------------------------------------------------------------------------------

# Queue counts stop here: "1000+" tells a moderator as much as 51,234 does, and counting every
# held comment of a large history cost a scan per queue on every dashboard page.
COUNT_LIMIT = 1000


_QUEUE_DATES: dict[str, Any] = {
    Queue.HELD: Comment.created_at,
    Queue.REJECTED: Comment.created_at,
    Queue.REPORTED: Comment.reported_at,
    Queue.APPROVED: Comment.decided_at,
}


def bounded_count(
    queue: str, site_ids: list[int] | None, reason: str | None = None, author_id: int | None = None
) -> int:
    """How many items ``queue`` holds, counted up to ``COUNT_LIMIT + 1`` (more than the limit:
    ``COUNT_LIMIT + 1``); a bounded read of the queue's index, whatever the history."""
    if queue == Queue.SPOT_CHECK:
        checks = _filtered(_spot_checks_waiting(SpotCheck.comment_id), site_ids, reason, author_id)
        # ix_spot_checks_site_verdict_created: the unanswered ones, oldest first.
        bounded = checks.order_by(SpotCheck.created_at).limit(COUNT_LIMIT + 1).subquery()
        return db.session.execute(select(func.count()).select_from(bounded)).scalar_one()
    query = _filtered(select(Comment.id).where(queue_condition(queue)), site_ids, reason, author_id)
    # In the order of the queue's partial index: without it SQLite scans ix_comments_site_status
    # from its first entry, through every published comment before the first rejected one.
    limited = query.order_by(_QUEUE_DATES[queue], Comment.id).limit(COUNT_LIMIT + 1).subquery()
    return db.session.execute(select(func.count()).select_from(limited)).scalar_one()


def queue_counts(
    reviewer: Reviewer, *, site_slug: str | None = None, reason: str | None = None, author_id: int | None = None
) -> dict[str, int]:
    """How many items each queue holds (up to ``COUNT_LIMIT + 1``), with ``list_queue``'s filters."""
    site_ids = visible_site_ids(reviewer, site_slug)
    return {queue: bounded_count(queue, site_ids, reason, author_id) for queue in QUEUES}


@dataclass
class QueueFigures:
    by_status: dict[str, int]
    queue_depth: dict[str, int]
    oldest_held_seconds: float


def queue_figures() -> QueueFigures:
    """Comments by status, the depth of the queues that wait on people, and the oldest held one's age."""
    by_status = dict(db.session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all())
    depth: dict[str, int] = {}
    for queue in (Queue.HELD, Queue.REPORTED):
        depth[queue] = db.session.execute(
            select(func.count()).select_from(Comment).where(queue_condition(queue))
        ).scalar_one()
    oldest = db.session.execute(
        select(func.min(Comment.created_at)).where(Comment.status == Status.HELD.value)
    ).scalar()
    if isinstance(oldest, str):  # SQLite returns aggregates of the type decorator's column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return QueueFigures({s.value: int(by_status.get(s.value, 0)) for s in Status}, depth, age)


# --- context beside an item -----------------------------------------------------------------------


def author_comments(moderator: Moderator, comment: Comment, limit: int = 50) -> list[dict[str, Any]]:
    """The author's other comments on the same site (by email hash, else IP hash), newest first."""
    get_comment(moderator, comment.id)
    rows = (
        db.session.execute(
            select(Comment)
            .where(
                Comment.site_id == comment.site_id, Comment.author_key == comment.author_key, Comment.id != comment.id
            )
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
    authors = readers.briefs(c.author_id for c in rows)
    return [
        {
            "comment": moderator_view(c, authors),
            "thread": {"key": c.thread.key, "title": c.thread.title},
            "queue": queue_of(c),
        }
        for c in rows
    ]


THREAD_VIEW_PAGE = 100


@dataclass
class ThreadView:
    thread: Thread
    rows: list[dict[str, Any]]
    next_cursor: str | None


def thread_comments(
    moderator: Moderator, site_slug: str, key: str, *, limit: int = THREAD_VIEW_PAGE, cursor: str | None = None
) -> ThreadView:
    """A thread as moderators see it, a page at a time: ``limit`` comments whatever their status,
    in date order across pages (an index range, however big the thread) and in reading order
    within the page (replies under their parents; a reply whose parent is on an earlier page
    starts its own branch at its depth)."""
    site = site_for(moderator, site_slug)
    thread = find_thread(site, key)
    if thread is None:
        raise NotFound("thread_not_found", "No such thread.")
    position = paging.decode_cursor("thread", cursor, paging.DATE_POSITION) if cursor else None
    query = paging.order_by_date(select(Comment).where(Comment.thread_id == thread.id), False, position)
    rows = list(db.session.execute(query.limit(limit + 1)).scalars())
    next_cursor = paging.date_cursor("thread", rows[limit - 1]) if len(rows) > limit else None
    rows = rows[:limit]
    authors = readers.briefs(row.author_id for row in rows)
    on_page = {row.id for row in rows}
    children: dict[int | None, list[Comment]] = {}
    for row in rows:
        children.setdefault(row.parent_id if row.parent_id in on_page else None, []).append(row)
    ordered: list[dict[str, Any]] = []

    def walk(parent_id: int | None) -> None:
        for row in children.get(parent_id, []):
            ordered.append({"comment": moderator_view(row, authors), "depth": row.depth, "queue": queue_of(row)})
            walk(row.id)

    walk(None)
    return ThreadView(thread, ordered, next_cursor)
