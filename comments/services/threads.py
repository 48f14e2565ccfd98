"""Reading threads: one page of root comments with their published replies nested, and counts.

This is the hottest path of the service (every article view), so it reads plain rows with two
indexed queries, builds the tree in one pass and never renders Markdown (the HTML is stored).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, tuple_

from comments.extensions import db
from comments.models import Comment, Site, Status, Thread
from comments.services import paging

SORTS = ("oldest", "newest", "top")
VISIBLE = (Status.PUBLISHED.value, Status.DELETED.value)

_COLUMNS = (
    Comment.id, Comment.parent_id, Comment.root_id, Comment.reply_to_id, Comment.author_name,
    Comment.body, Comment.body_html, Comment.status, Comment.created_at, Comment.edited_at,
    Comment.reply_count,
)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    # isoformat is several times faster than strftime, and this runs twice per comment read.
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# Built once: every read and every post looks its thread up.
_THREAD_BY_KEY = select(Thread).where(Thread.site_id == bindparam("site_id"), Thread.key == bindparam("key"))


def find_thread(site: Site, key: str) -> Thread | None:
    return db.session.execute(_THREAD_BY_KEY, {"site_id": site.id, "key": key}).scalar_one_or_none()


def thread_json(thread: Thread | None, key: str) -> dict[str, Any]:
    if thread is None:
        return {"key": key, "title": "", "url": "", "closed": False, "comment_count": 0}
    return {"key": thread.key, "title": thread.title, "url": thread.url, "closed": thread.closed,
            "comment_count": thread.published_count}


# --- cursors ----------------------------------------------------------------------------------

def _encode_cursor(sort: str, row: Any) -> str:
    if sort == "top":
        return paging.encode_cursor(sort, [row.reply_count, row.created_at.isoformat(), row.id])
    return paging.date_cursor(sort, row)


_TOP_POSITION = (paging.COUNT, paging.MOMENT, paging.ID)


def _decode_cursor(sort: str, cursor: str) -> list[Any]:
    return paging.decode_cursor(sort, cursor, _TOP_POSITION if sort == "top" else paging.DATE_POSITION)


def _roots_query(thread_id: int, sort: str, limit: int, cursor: str | None):
    query = select(*_COLUMNS).where(
        Comment.thread_id == thread_id,
        Comment.root_id.is_(None),
        or_(Comment.status == Status.PUBLISHED.value,
            and_(Comment.status == Status.DELETED.value, Comment.reply_count > 0)),
    )
    position = _decode_cursor(sort, cursor) if cursor else None
    if sort in ("oldest", "newest"):
        return paging.order_by_date(query, sort == "newest", position).limit(limit + 1)
    # top: most replies first, then newest
    if position:
        query = query.where(tuple_(Comment.reply_count, Comment.created_at, Comment.id) < tuple_(*position))
    query = query.order_by(Comment.reply_count.desc(), Comment.created_at.desc(), Comment.id.desc())
    return query.limit(limit + 1)


# --- the tree ---------------------------------------------------------------------------------

def comment_json(row: Any) -> dict[str, Any]:
    """The contract's comment shape, from a row or a Comment (replies filled by the tree)."""
    tombstone = row.status == Status.DELETED.value
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "author_name": None if tombstone else row.author_name,
        "body": None if tombstone else row.body,
        "body_html": None if tombstone else row.body_html,
        "status": row.status,
        "created_at": rfc3339(row.created_at),
        "edited_at": rfc3339(row.edited_at),
        "reply_count": row.reply_count,
        "replies": [],
    }


def _build(node: dict[str, Any], children: dict[int, list[Any]], names: dict[int, str | None]) -> bool:
    """Fill ``node``'s replies; False when it is a tombstone with nothing visible under it."""
    replies = node["replies"]
    for row in children.get(node["id"], ()):
        child = comment_json(row)
        if row.reply_to_id is not None:
            child["reply_to"] = {"id": row.reply_to_id, "author_name": names.get(row.reply_to_id)}
        if _build(child, children, names):
            replies.append(child)
    node["reply_count"] = len(replies)
    return node["status"] != Status.DELETED.value or bool(replies)


@dataclass
class ThreadPage:
    thread: dict[str, Any]
    comments: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self) -> dict[str, Any]:
        return {"thread": self.thread, "comments": self.comments, "next_cursor": self.next_cursor}


def read_page(site: Site, key: str, thread: Thread | None, sort: str, limit: int,
              cursor: str | None) -> ThreadPage:
    if thread is None:
        if cursor:
            _decode_cursor(sort, cursor)  # still refuse a malformed cursor
        return ThreadPage(thread_json(None, key), [], None)
    root_rows = db.session.execute(_roots_query(thread.id, sort, limit, cursor)).all()
    next_cursor = None
    if len(root_rows) > limit:
        root_rows = root_rows[:limit]
        next_cursor = _encode_cursor(sort, root_rows[-1])
    children: dict[int, list[Any]] = defaultdict(list)
    names: dict[int, str | None] = {}
    if root_rows:
        replies = db.session.execute(
            select(*_COLUMNS)
            .where(Comment.root_id.in_([r.id for r in root_rows]), Comment.status.in_(VISIBLE))
            .order_by(Comment.created_at, Comment.id)
        ).all()
        for row in replies:
            children[row.parent_id].append(row)
            names[row.id] = row.author_name if row.status == Status.PUBLISHED.value else None
    comments = []
    for row in root_rows:
        node = comment_json(row)
        if _build(node, children, names):
            comments.append(node)
    return ThreadPage(thread_json(thread, key), comments, next_cursor)


def counts(site: Site, keys: list[str]) -> dict[str, int]:
    found = dict(db.session.execute(
        select(Thread.key, Thread.published_count).where(Thread.site_id == site.id, Thread.key.in_(keys))
    ).all())
    return {key: found.get(key, 0) for key in keys}
