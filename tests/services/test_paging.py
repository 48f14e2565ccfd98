"""Cursors: what ``paging.decode_cursor`` takes back (only what ``encode_cursor`` could have made)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from comments.models import MAX_ID, Thread
from comments.services import paging
from comments.services.errors import Invalid

SHAPE = (paging.COUNT, paging.SCORE, paging.MOMENT, paging.ID)


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_what_encode_makes_decode_takes_back():
    moment = datetime(2026, 3, 1, 9, 15, 0, 123456, tzinfo=UTC)
    cursor = paging.encode_cursor("s", [0, -1.0, moment.isoformat(), MAX_ID])
    assert paging.decode_cursor("s", cursor, SHAPE) == [0, -1.0, moment, MAX_ID]
    cursor = paging.encode_cursor("s", [MAX_ID, 1, moment.isoformat(), 1])
    assert paging.decode_cursor("s", cursor, SHAPE) == [MAX_ID, 1.0, moment, 1]


@pytest.mark.parametrize(
    "position",
    [
        # counts: integers 0..MAX_ID
        '-1,0.5,"2026-01-01T00:00:00Z",1',
        f'{MAX_ID + 1},0.5,"2026-01-01T00:00:00Z",1',
        '1.0,0.5,"2026-01-01T00:00:00Z",1',
        'true,0.5,"2026-01-01T00:00:00Z",1',
        '"1",0.5,"2026-01-01T00:00:00Z",1',
        'Infinity,0.5,"2026-01-01T00:00:00Z",1',
        # scores: finite, in [0, 1] or -1
        '1,NaN,"2026-01-01T00:00:00Z",1',
        '1,Infinity,"2026-01-01T00:00:00Z",1',
        '1,-Infinity,"2026-01-01T00:00:00Z",1',
        '1,1e309,"2026-01-01T00:00:00Z",1',
        '1,1.5,"2026-01-01T00:00:00Z",1',
        '1,-0.5,"2026-01-01T00:00:00Z",1',
        '1,false,"2026-01-01T00:00:00Z",1',
        '1,null,"2026-01-01T00:00:00Z",1',
        # moments: RFC 3339 with offset, with a UTC equivalent
        '1,0.5,"2026-01-01T00:00:00",1',
        '1,0.5,"0001-01-01T00:00:00+01:00",1',
        '1,0.5,"9999-12-31T23:59:59-01:00",1',
        '1,0.5,"2026-01-01",1',
        "1,0.5,1767225600,1",
        '1,0.5,["2026-01-01T00:00:00Z"],1',
        # ids: integers 1..MAX_ID
        '1,0.5,"2026-01-01T00:00:00Z",0',
        f'1,0.5,"2026-01-01T00:00:00Z",{MAX_ID + 1}',
        f'1,0.5,"2026-01-01T00:00:00Z",{2**64}',
        f'1,0.5,"2026-01-01T00:00:00Z",{10**400}',
        '1,0.5,"2026-01-01T00:00:00Z",1e3',
        '1,0.5,"2026-01-01T00:00:00Z",Infinity',
        '1,0.5,"2026-01-01T00:00:00Z",NaN',
        # shape
        '1,0.5,"2026-01-01T00:00:00Z"',
        '1,0.5,"2026-01-01T00:00:00Z",1,1',
        '[1,0.5,"2026-01-01T00:00:00Z",1]',
        "",
    ],
)
def test_positions_outside_their_shape_are_refused(position):
    with pytest.raises(Invalid) as refused:
        paging.decode_cursor("s", _raw(f'{{"s":"s","p":[{position}]}}'), SHAPE)
    assert refused.value.fields.keys() == {"cursor"}


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a b",
        "a=",
        "%41",
        "A" * 501,
        _raw("Infinity"),
        _raw("[]"),
        _raw('{"s":"s"}'),
        _raw('{"s":"t","p":[1]}'),
        _raw('{"s":"s","p":[1],"q":1}'),
        _raw('{"s":"s","p":{"0":1}}'),
        _raw("[" * 400 + "]" * 400),
        base64.urlsafe_b64encode(b'{"s":"\xff","p":[1]}').decode(),
    ],
)
def test_cursors_this_service_never_made_are_refused(cursor):
    with pytest.raises(Invalid):
        paging.decode_cursor("s", cursor, (paging.ID,))


def test_newest_by_id_pages_through_every_row_once_newest_first(db, site):
    db.session.add_all([Thread(site_id=site.id, key=f"t-{i}") for i in range(5)])
    db.session.flush()
    query = select(Thread).where(Thread.site_id == site.id)
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = paging.newest_by_id(query, Thread.id, "threads", 2, cursor)
        seen += [row.key for row in rows]
        pages += 1
        if cursor is None:
            break
    assert seen == ["t-4", "t-3", "t-2", "t-1", "t-0"] and pages == 3
    with pytest.raises(Invalid):  # another list's cursor
        paging.newest_by_id(query, Thread.id, "audit", 2, paging.encode_cursor("threads", [1]))
