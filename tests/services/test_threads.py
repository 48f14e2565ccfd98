"""services.threads: what a read asks the database, whatever the size of the comment it shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from comments.models import Comment
from comments.services import threads
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
        plan = " | ".join(row[-1] for row in db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, params))
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
        plan = " | ".join(row[-1] for row in db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, params))
        assert "USING INDEX ix_comments_thread_" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
