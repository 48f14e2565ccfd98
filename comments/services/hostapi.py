"""What a host site does with its own data: threads, and exports of its comments.

The exported comment's schema lives in ``services.hostjson``, not with the API's: webhook payloads
(built by ``services.webhooks``, below the API) carry the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import Comment, Site, Status, Thread
from comments.services import moderation, paging
from comments.services.audit import Actor, record
from comments.services.threads import find_thread
from comments.services.validation import checked_thread_key

THREAD_FIELDS = ("title", "url", "closed")


# --- threads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedThread:
    """A thread with its comments counted per status: the host API's thread."""

    thread: Thread
    counts: dict[str, int]

    def __getattr__(self, name: str) -> Any:
        # Every other field is the thread's.
        return getattr(object.__getattribute__(self, "thread"), name)


def counted(thread: Thread) -> CountedThread:
    return CountedThread(thread, status_counts([thread.id])[thread.id])


def _zero() -> dict[str, int]:
    return {s.value: 0 for s in Status}


def status_counts(thread_ids: list[int]) -> dict[int, dict[str, int]]:
    """Comments per status for each thread, in one grouped read."""
    result: dict[int, dict[str, int]] = {tid: _zero() for tid in thread_ids}
    if not thread_ids:
        return result
    rows = db.session.execute(
        select(Comment.thread_id, Comment.status, func.count())
        .where(Comment.thread_id.in_(thread_ids))
        .group_by(Comment.thread_id, Comment.status)
    ).all()
    for thread_id, status, count in rows:
        result[thread_id][status] = int(count)
    return result


def get_thread(site: Site, key: str) -> Thread | None:
    return find_thread(site, checked_thread_key(key))


def put_thread(site: Site, key: str, changes: dict[str, Any], actor: Actor) -> tuple[Thread, bool]:
    """Create the thread or change its title, url or closed flag; (thread, created).

    Closing stops new comments (the submission rules check it) and keeps the thread readable.
    Any visible change bumps the thread's revision, so readers' ETags and cached pages change.
    """
    key = checked_thread_key(key)
    changes = {k: v for k, v in changes.items() if k in THREAD_FIELDS and v is not None}
    created = False
    thread = get_thread(site, key)
    if thread is None:
        try:
            with db.session.begin_nested():
                thread = Thread(
                    site_id=site.id,
                    key=key,
                    title=changes.get("title", ""),
                    url=changes.get("url", ""),
                    closed=bool(changes.get("closed", False)),
                )
                db.session.add(thread)
            created = True
        except IntegrityError:  # created meanwhile by a first comment: update it instead
            thread = get_thread(site, key)
            assert thread is not None
    before = {f: getattr(thread, f) for f in THREAD_FIELDS}
    if not created:
        for field, value in changes.items():
            setattr(thread, field, value)
    after = {f: getattr(thread, f) for f in THREAD_FIELDS}
    changed = {f: {"before": before[f], "after": after[f]} for f in THREAD_FIELDS if before[f] != after[f]}
    if created or changed:
        db.session.flush()
        if changed:
            moderation.bump_thread_revision(thread.id)
            db.session.expire(thread, ["revision"])
        record(
            "thread_created" if created else "thread_updated",
            actor,
            site_id=site.id,
            reasons=[{"kind": "thread", "key": key, "changes": changed or after}],
        )
    return thread, created


@dataclass
class Page:
    items: list[Any]  # CountedThread, or export rows (ExportCommentSchema dumps them)
    next_cursor: str | None


def list_threads(site: Site, *, limit: int, cursor: str | None = None, closed: bool | None = None) -> Page:
    """The site's threads, newest first, with counts per status."""
    query = select(Thread).where(Thread.site_id == site.id)
    if closed is not None:
        query = query.where(Thread.closed.is_(closed))
    rows, next_cursor = paging.newest_by_id(query, Thread.id, "threads", limit, cursor)
    counts = status_counts([t.id for t in rows])
    return Page([CountedThread(t, counts[t.id]) for t in rows], next_cursor)


# --- exports ----------------------------------------------------------------------------------

_EXPORT_COLUMNS = (
    Comment.id,
    Thread.key.label("thread_key"),
    Comment.parent_id,
    Comment.reply_to_id,
    Comment.author_name,
    Comment.author_key,
    Comment.author_id,
    Comment.author_badges,
    Comment.author_verified,
    Comment.body,
    Comment.body_html,
    Comment.status,
    Comment.reasons,
    Comment.scores,
    Comment.max_score,
    Comment.model_name,
    Comment.report_count,
    Comment.created_at,
    Comment.edited_at,
    Comment.decided_at,
    Comment.updated_at,
    Comment.import_ref,
)


@dataclass(frozen=True)
class ExportFilter:
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    thread_key: str | None = None
    author_email_hash: str | None = None
    # An author's comments by their records (privacy requests): with ``author_email_hash``, the
    # comments that match either.
    author_ids: tuple[int, ...] = ()
    # Comments changed (any status, text or counter change) at or after this; pages then run in
    # the order of change, so a host can sync incrementally.
    changed_since: datetime | None = None


def _export_query(site: Site, where: ExportFilter) -> Select[*tuple[Any, ...]]:
    query = select(*_EXPORT_COLUMNS).join(Thread, Thread.id == Comment.thread_id).where(Comment.site_id == site.id)
    if where.statuses:
        query = query.where(Comment.status.in_(where.statuses))
    if where.since is not None:
        query = query.where(Comment.created_at >= where.since)
    if where.until is not None:
        query = query.where(Comment.created_at < where.until)
    if where.thread_key is not None:
        query = query.where(Thread.key == where.thread_key)
    if where.author_email_hash is not None and where.author_ids:
        query = query.where(
            or_(Comment.author_email_hash == where.author_email_hash, Comment.author_id.in_(where.author_ids))
        )
    elif where.author_email_hash is not None:
        query = query.where(Comment.author_email_hash == where.author_email_hash)
    elif where.author_ids:
        query = query.where(Comment.author_id.in_(where.author_ids))
    if where.changed_since is not None:
        query = query.where(Comment.updated_at >= where.changed_since)
    return query


def _export_sort(where: ExportFilter) -> str:
    return "export-changed" if where.changed_since is not None else "export"


def export_page(site: Site, where: ExportFilter, *, limit: int, cursor: str | None = None) -> Page:
    """One page of the site's comments: oldest first (keyset on created_at, id), or in the order
    they changed (updated_at, id) with ``changed_since``."""
    by_change = where.changed_since is not None
    column = Comment.updated_at if by_change else Comment.created_at
    sort = _export_sort(where)
    position = paging.decode_cursor(sort, cursor, paging.DATE_POSITION) if cursor else None
    query = _export_query(site, where)
    if position:
        query = query.where(tuple_(column, Comment.id) > tuple_(*position))
    rows = db.session.execute(query.order_by(column, Comment.id).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = paging.encode_cursor(
            sort, [(last.updated_at if by_change else last.created_at).isoformat(), last.id]
        )
    return Page(list(rows[:limit]), next_cursor)


def export_batches(
    site: Site, where: ExportFilter, *, batch_size: int = 500, cursor: str | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Every matching comment, in keyset batches: memory stays flat however big the site.

    The cursor is checked here, when called, not when the first batch is read: a stream has
    already started answering by then, too late for a clean 422."""
    if cursor:
        paging.decode_cursor(_export_sort(where), cursor, paging.DATE_POSITION)
    return _batches(site, where, batch_size, cursor)


def _batches(site: Site, where: ExportFilter, batch_size: int, cursor: str | None) -> Iterator[list[dict[str, Any]]]:
    while True:
        page = export_page(site, where, limit=batch_size, cursor=cursor)
        db.session.expire_all()
        yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
