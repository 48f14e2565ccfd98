"""Reading threads: one page of root comments with their first replies nested, the rest of a
comment's replies a page at a time, and counts.

This is the hottest path of the service (every article view), so it reads plain rows with indexed
queries (one for the roots, one per level of replies), builds the tree as it goes and never
renders Markdown (the HTML is stored). What one read carries is bounded by its limit and the
constants below, never by how many replies a comment has: a comment whose replies were cut says
so with a cursor for ``read_replies``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import marshmallow as ma
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from comments.extensions import db
from comments.models import Comment, Site, Status, Thread
from comments.services import paging
from comments.services.errors import Invalid, NotFound

SORTS = ("oldest", "newest", "top")
VISIBLE = (Status.PUBLISHED.value, Status.DELETED.value)

# How much of a conversation one read carries. Each comment shows its first REPLIES_SHOWN replies
# in reading order (the widget shows three before "Show N more replies"), and everything under one
# root of a thread page, or under one reply of a replies page, stays within REPLIES_PER_TOP. So a
# thread page holds at most limit * (1 + REPLIES_PER_TOP) comments, whatever the thread's size.
REPLIES_SHOWN = 3
REPLIES_PER_TOP = 10
REPLY_PAGE_DEFAULT = 10  # direct replies per replies page when `limit` is not given
REPLY_PAGE_MAX = 50
# Parents per UNION ALL statement (SQLite allows 500 members in one compound statement), and ids
# per IN list (SQLite allows 32,766 bound parameters).
_PARENTS_PER_STATEMENT = 128
_IDS_PER_STATEMENT = 1000
_REPLIES_CURSOR = "replies"  # the "sort" a replies cursor belongs to: thread cursors are refused

_COLUMNS = (
    Comment.id,
    Comment.parent_id,
    Comment.root_id,
    Comment.reply_to_id,
    Comment.author_name,
    Comment.author_badges,
    Comment.author_verified,
    Comment.body,
    Comment.body_html,
    Comment.status,
    Comment.created_at,
    Comment.edited_at,
    Comment.reply_count,
)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    # isoformat is several times faster than strftime, and this runs twice per comment read.
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class Rfc3339(ma.fields.DateTime):
    """A moment as every answer writes it (``rfc3339``), for the schemas that dump objects."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return rfc3339(value)


# Built once: every read and every post looks its thread up.
_THREAD_BY_KEY = select(Thread).where(Thread.site_id == bindparam("site_id"), Thread.key == bindparam("key"))


def find_thread(site: Site, key: str) -> Thread | None:
    return db.session.execute(_THREAD_BY_KEY, {"site_id": site.id, "key": key}).scalar_one_or_none()


def thread_json(thread: Thread | None, key: str) -> dict[str, Any]:
    if thread is None:
        return {"key": key, "title": "", "url": "", "closed": False, "comment_count": 0}
    return {
        "key": thread.key,
        "title": thread.title,
        "url": thread.url,
        "closed": thread.closed,
        "comment_count": thread.published_count,
    }


# --- cursors ----------------------------------------------------------------------------------


def _encode_cursor(sort: str, row: Any) -> str:
    if sort == "top":
        return paging.encode_cursor(sort, [row.reply_count, row.created_at.isoformat(), row.id])
    return paging.date_cursor(sort, row)


_TOP_POSITION = (paging.COUNT, paging.MOMENT, paging.ID)


def _decode_cursor(sort: str, cursor: str) -> list[Any]:
    return paging.decode_cursor(sort, cursor, _TOP_POSITION if sort == "top" else paging.DATE_POSITION)


def replies_cursor(after: Any | None) -> str:
    """Where a comment's replies go on: after the reply ``after``, or from the first when None
    (a comment carried without any of its replies because its root's share was spent)."""
    return paging.encode_cursor(_REPLIES_CURSOR, [] if after is None else [after.created_at.isoformat(), after.id])


def _decode_replies_cursor(cursor: str) -> list[Any] | None:
    """After a reply (its date and id), or None: from the first reply (an empty position)."""
    try:
        return paging.decode_cursor(_REPLIES_CURSOR, cursor, paging.DATE_POSITION)
    except Invalid:
        paging.decode_cursor(_REPLIES_CURSOR, cursor, ())  # the 422 for anything else
        return None


def _shown_to_readers(table: Any = Comment) -> ColumnElement[bool]:
    """Published comments, and deleted ones still answered by a published reply (tombstones)."""
    return or_(
        table.status == Status.PUBLISHED.value, and_(table.status == Status.DELETED.value, table.reply_count > 0)
    )


def _roots_query(thread_id: int, sort: str, limit: int, cursor: str | None) -> Select[*tuple[Any, ...]]:
    query = select(*_COLUMNS).where(
        Comment.thread_id == thread_id,
        Comment.root_id.is_(None),
        _shown_to_readers(),
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


def _comment_dict(row: Any) -> dict[str, Any]:
    """The contract's comment shape (the API's CommentSchema) from a row, for the hot path of thread
    reads (``_tree_node`` adds what only they carry): building a dict is several times faster than a
    schema dump, and tests/api/test_schemas_contract.py checks it against the schema. Every other
    answer dumps an object with the schema.
    """
    tombstone = row.status == Status.DELETED.value
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "author_name": None if tombstone else row.author_name,
        "author_badges": [] if tombstone else (row.author_badges or []),
        "author_verified": False if tombstone else bool(row.author_verified),
        "body": None if tombstone else row.body,
        "body_html": None if tombstone else row.body_html,
        "status": row.status,
        "created_at": rfc3339(row.created_at),
        "edited_at": rfc3339(row.edited_at),
        "reply_count": row.reply_count,
        "replies": [],
    }


def _tree_node(row: Any) -> dict[str, Any]:
    node = _comment_dict(row)
    node["replies_next_cursor"] = None
    if row.reply_to_id is not None:
        node["reply_to"] = {"id": row.reply_to_id, "author_name": None}  # named by _name_replied_to
    return node


@cache
def _first_replies_statement(parents: int) -> Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]:
    """UNION ALL of ``parents`` seeks, parent ids bound as p0, p1, ... and the count as ``n``.

    Built once per size: constructing a select costs more than running one of these seeks.
    """
    members = [
        select(*_COLUMNS)
        .where(Comment.parent_id == bindparam(f"p{i}"), _shown_to_readers())
        .order_by(Comment.created_at, Comment.id)
        .limit(bindparam("n", type_=Integer))
        .subquery()
        .select()
        for i in range(parents)
    ]
    return members[0] if parents == 1 else union_all(*members)


def _lateral_first_replies_statement() -> Select[*tuple[Any, ...]]:
    """PostgreSQL's form of the same seeks: one LATERAL seek per id of a bound array. Its plan has
    the same few nodes however many parents there are (planning a UNION ALL of 64 seeks took 30
    ms, ten times what running it did)."""
    parents = func.unnest(bindparam("parent_ids", type_=ARRAY(Integer))).table_valued("id").render_derived()
    replies = (
        select(*_COLUMNS)
        .where(Comment.parent_id == parents.c.id, _shown_to_readers())
        .order_by(Comment.created_at, Comment.id)
        .limit(bindparam("n", type_=Integer))
        .lateral()
    )
    return select(replies).select_from(parents.join(replies, true()))


_LATERAL_FIRST_REPLIES = _lateral_first_replies_statement()


# Every reply shown to readers of the given parents, for parents with few of them.
_ALL_REPLIES = select(*_COLUMNS).where(
    Comment.parent_id.in_(bindparam("parent_ids", expanding=True)), _shown_to_readers()
)


def _first_replies(parents: list[dict[str, Any]], count: int) -> dict[int, list[Any]]:
    """The first ``count`` replies shown to readers of each parent, in reading order.

    A parent with fewer published replies than ``count`` has only those and its tombstones to
    read: all of them, for all such parents, in one IN over ix_comments_parent_order (most
    parents on a page are these, most with no reply at all). Any other gets its own seek with a
    LIMIT, in UNION ALL statements: reading all of a parent's replies to keep a few would make a
    page cost what its biggest comment holds.
    """
    few = [parent["id"] for parent in parents if parent["reply_count"] < count]
    many = [parent["id"] for parent in parents if parent["reply_count"] >= count]
    found: dict[int, list[Any]] = defaultdict(list)
    for start in range(0, len(few), _IDS_PER_STATEMENT):
        for row in db.session.execute(_ALL_REPLIES, {"parent_ids": few[start : start + _IDS_PER_STATEMENT]}):
            found[row.parent_id].append(row)
    if many and db.session.get_bind().dialect.name == "postgresql":
        for row in db.session.execute(_LATERAL_FIRST_REPLIES, {"parent_ids": many, "n": count}):
            found[row.parent_id].append(row)
        many = []
    for start in range(0, len(many), _PARENTS_PER_STATEMENT):
        chunk = many[start : start + _PARENTS_PER_STATEMENT]
        # A few statement sizes (powers of two), padded with id 0, which no comment has.
        size = 1 << (len(chunk) - 1).bit_length()
        params: dict[str, int] = {f"p{i}": parent_id for i, parent_id in enumerate(chunk + [0] * (size - len(chunk)))}
        params["n"] = count
        for row in db.session.execute(_first_replies_statement(size), params):
            found[row.parent_id].append(row)
    for rows in found.values():
        rows.sort(key=lambda row: (row.created_at, row.id))  # neither IN nor UNION ALL promise an order
        del rows[count:]
    return found


def _fill_replies(tops: list[dict[str, Any]]) -> None:
    """Nest the first replies under each top comment, one level per query.

    Every comment carried gets up to REPLIES_SHOWN of its replies while its top's share of
    REPLIES_PER_TOP lasts (breadth first: the replies nearest the top come first); a comment
    with more replies than it carries gets ``replies_next_cursor``.
    """
    share = {top["id"]: REPLIES_PER_TOP for top in tops}
    level = [(node, node["id"]) for node in tops]
    carried = list(tops)
    while level:
        # One more than shown: whether a comment has more replies is known without counting them.
        rows_by_parent = _first_replies([node for node, _ in level], REPLIES_SHOWN + 1)
        next_level = []
        for node, top in level:
            rows = rows_by_parent.get(node["id"], [])
            shown = rows[: min(REPLIES_SHOWN, share[top])]
            share[top] -= len(shown)
            for row in shown:
                child = _tree_node(row)
                node["replies"].append(child)
                next_level.append((child, top))
            if len(rows) > len(shown):
                node["replies_next_cursor"] = replies_cursor(shown[-1] if shown else None)
        carried += [node for node, _ in next_level]
        level = next_level
    _name_replied_to(carried)


def _name_replied_to(nodes: list[dict[str, Any]]) -> None:
    """Fill ``reply_to.author_name`` (replies past the depth cap name whom they answer): from the
    page when the answered comment is on it, else in one read; None unless it is published."""
    names = {node["id"]: node["author_name"] for node in nodes if node["status"] == Status.PUBLISHED.value}
    answering = [node for node in nodes if "reply_to" in node]
    missing = {node["reply_to"]["id"] for node in answering} - names.keys()
    if missing:
        names.update(
            db.session.execute(
                select(Comment.id, Comment.author_name).where(
                    Comment.id.in_(missing), Comment.status == Status.PUBLISHED.value
                )
            ).all()
        )
    for node in answering:
        node["reply_to"]["author_name"] = names.get(node["reply_to"]["id"])


@dataclass
class ThreadPage:
    thread: dict[str, Any]
    comments: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self) -> dict[str, Any]:
        return {"thread": self.thread, "comments": self.comments, "next_cursor": self.next_cursor}


def read_page(site: Site, key: str, thread: Thread | None, sort: str, limit: int, cursor: str | None) -> ThreadPage:
    if thread is None:
        if cursor:
            _decode_cursor(sort, cursor)  # still refuse a malformed cursor
        return ThreadPage(thread_json(None, key), [], None)
    root_rows = db.session.execute(_roots_query(thread.id, sort, limit, cursor)).all()
    next_cursor = None
    if len(root_rows) > limit:
        root_rows = root_rows[:limit]
        next_cursor = _encode_cursor(sort, root_rows[-1])
    comments = [_tree_node(row) for row in root_rows]
    _fill_replies(comments)
    return ThreadPage(thread_json(thread, key), comments, next_cursor)


# --- the replies of one comment ---------------------------------------------------------------


@dataclass
class RepliesPage:
    comments: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self) -> dict[str, Any]:
        return {"comments": self.comments, "next_cursor": self.next_cursor}


def _chain_statement() -> Select[bool]:
    above = aliased(Comment)
    chain = (
        select(Comment.id, Comment.parent_id, Comment.status, Comment.reply_count)
        .where(Comment.id == bindparam("comment_id"))
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(above.id, above.parent_id, above.status, above.reply_count).where(above.id == chain.c.parent_id)
    )
    return select(_shown_to_readers(chain.c).label("shown"))


# Built once, as _THREAD_BY_KEY: whether a comment and each of its ancestors are shown to readers.
_SHOWN_CHAIN = _chain_statement()


def check_shown_to_readers(comment: Comment) -> None:
    """Refuse (404, as for an unknown id) a comment readers cannot see in its thread: its own
    status or any ancestor's (a reply under a held comment is hidden with it)."""
    shown = db.session.execute(_SHOWN_CHAIN, {"comment_id": comment.id}).scalars().all()
    if not shown or not all(shown):
        raise NotFound("comment_not_found", "No such comment.")


def _direct_replies_statement(after: bool) -> Select[*tuple[Any, ...]]:
    query = select(*_COLUMNS).where(Comment.parent_id == bindparam("parent_id"), _shown_to_readers())
    position = [bindparam("after_at", type_=Comment.created_at.type), bindparam("after_id", type_=Integer)]
    return paging.order_by_date(query, False, position if after else None).limit(bindparam("n", type_=Integer))


_DIRECT_REPLIES = {after: _direct_replies_statement(after) for after in (False, True)}


def read_replies(comment: Comment, limit: int, cursor: str | None) -> RepliesPage:
    """One page of a comment's direct replies in reading order, each with its first replies nested,
    for a comment ``check_shown_to_readers`` let through (the API checks before answering 304s)."""
    position = _decode_replies_cursor(cursor) if cursor else None
    params = {"parent_id": comment.id, "n": limit + 1}
    if position:
        params.update(after_at=position[0], after_id=position[1])
    rows = db.session.execute(_DIRECT_REPLIES[bool(position)], params).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = replies_cursor(rows[-1])
    comments = [_tree_node(row) for row in rows]
    _fill_replies(comments)
    return RepliesPage(comments, next_cursor)


def counts(site: Site, keys: list[str]) -> dict[str, int]:
    found = dict(
        db.session.execute(
            select(Thread.key, Thread.published_count).where(Thread.site_id == site.id, Thread.key.in_(keys))
        ).all()
    )
    return {key: found.get(key, 0) for key in keys}
