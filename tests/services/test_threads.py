"""services.threads: what a read asks the database, whatever the size of the comment it shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from comments.models import Comment
from comments.services import paging, threads
from comments.services.errors import Invalid
from tests.helpers import TEST_DATABASE_URL


@contextmanager
def _statements(db) -> Iterator[list[tuple[str, object]]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _thread_with_a_big_root(api, replies: int) -> int:
    root = api.post("root", "Root").json["comment"]["id"]
    for i in range(replies):
        api.post(f"reply {i}", f"R{i}", parent_id=root)
    api.post("another root", "Other")
    return root


def test_a_read_asks_the_same_of_the_database_for_5_or_60_replies(api, site, db):
    for key, replies in (("small", 5), ("big", 60)):
        root = api.post(f"{key} root", "Root", key=key).json["comment"]["id"]
        for i in range(replies):
            api.post(f"{key} reply {i}", f"R{i}", key=key, parent_id=root)
    counts = []
    for key in ("small", "big"):
        thread = threads.find_thread(site, key)
        with _statements(db) as seen:
            page = threads.read_page(site, key, thread, "oldest", 50, None)
        assert len(page.comments[0]["replies"]) == threads.REPLIES_SHOWN
        counts.append(len(seen))
    assert counts[0] == counts[1]


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's plans; PostgreSQL's are checked in bench/README")
def test_reply_reads_are_index_seeks_in_reading_order(api, site, db):
    root = _thread_with_a_big_root(api, 12)
    thread = threads.find_thread(site, "article-1")
    with _statements(db) as seen:
        page = threads.read_page(site, "article-1", thread, "oldest", 50, None)
        threads.read_replies(db.session.get(Comment, root), 5, page.comments[0]["replies_next_cursor"])
    seeks = [(sql, params) for sql, params in seen if "parent_id =" in sql]
    lists = [(sql, params) for sql, params in seen if "parent_id IN" in sql]
    assert seeks and lists
    for sql, params in seeks + lists:
        plan = " | ".join(
            row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert "ix_comments_parent_order (parent_id=?" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives reading order


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's plans; PostgreSQL's are checked in bench/README")
@pytest.mark.parametrize("sort", ["oldest", "newest", "top"])
def test_every_sort_of_root_pages_is_an_index_seek_without_a_sort(api, site, db, sort):
    """A page of roots costs the same in a thread of 50 roots or 50,000: no sort of all of them."""
    for i in range(4):
        root = api.post(f"root {i}", f"A{i}").json["comment"]["id"]
        for j in range(i):
            api.post(f"reply {i}.{j}", f"R{j}", parent_id=root)
    thread = threads.find_thread(site, "article-1")
    with _statements(db) as seen:
        first = threads.read_page(site, "article-1", thread, sort, 2, None)
        threads.read_page(site, "article-1", thread, sort, 2, first.next_cursor)
    roots = [(sql, params) for sql, params in seen if "root_id IS NULL" in sql]
    assert len(roots) == 2
    if sort == "top":
        assert [c["body"] for c in first.comments] == ["root 3", "root 2"]
    for sql, params in roots:
        plan = " | ".join(
            row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert "USING INDEX ix_comments_thread_" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


# --- cursors, as pure functions (no app, no database) ------------------------------------------

_MOMENT = datetime(2026, 3, 1, 9, 15, 30, 250000, tzinfo=UTC)


def test_a_top_cursor_carries_reply_count_date_and_id_and_only_top_takes_it():
    row = SimpleNamespace(reply_count=3, created_at=_MOMENT, id=7)
    cursor = threads._encode_cursor("top", row)
    assert threads._decode_cursor("top", cursor) == [3, _MOMENT, 7]
    with pytest.raises(Invalid):
        threads._decode_cursor("newest", cursor)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_date_sorts_carry_date_and_id_and_refuse_each_others_cursors(sort):
    cursor = threads._encode_cursor(sort, SimpleNamespace(reply_count=3, created_at=_MOMENT, id=7))
    assert threads._decode_cursor(sort, cursor) == [_MOMENT, 7]
    other = "oldest" if sort == "newest" else "newest"
    with pytest.raises(Invalid):
        threads._decode_cursor(other, cursor)


def test_a_replies_cursor_goes_on_after_a_reply_or_from_the_first():
    after = SimpleNamespace(created_at=_MOMENT, id=42)
    assert threads._decode_replies_cursor(threads.replies_cursor(after)) == [_MOMENT, 42]
    assert threads._decode_replies_cursor(threads.replies_cursor(None)) is None


def test_a_thread_cursor_is_no_replies_cursor_nor_the_reverse():
    thread_cursor = threads._encode_cursor("oldest", SimpleNamespace(created_at=_MOMENT, id=42))
    with pytest.raises(Invalid):
        threads._decode_replies_cursor(thread_cursor)
    with pytest.raises(Invalid):
        threads._decode_cursor("oldest", threads.replies_cursor(SimpleNamespace(created_at=_MOMENT, id=42)))


def test_a_replies_cursor_with_a_position_of_another_shape_is_refused():
    with pytest.raises(Invalid):
        threads._decode_replies_cursor(paging.encode_cursor("replies", [_MOMENT.isoformat()]))
    with pytest.raises(Invalid):
        threads._decode_replies_cursor(paging.encode_cursor("replies", [_MOMENT.isoformat(), 0]))


def test_rfc3339_is_utc_in_milliseconds_with_a_z():
    assert threads.rfc3339(_MOMENT) == "2026-03-01T09:15:30.250Z"
    assert threads.rfc3339(datetime(2026, 3, 1, 9, 15)) == "2026-03-01T09:15:00.000Z"
    assert threads.rfc3339(None) is None
