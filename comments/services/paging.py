"""Keyset pagination shared by every list: opaque cursors and date-ordered pages.

A cursor comes back from clients, so ``decode_cursor`` is the one place that reads it: it checks
the encoding, the JSON (no NaN or Infinity), the sort it belongs to and each value of the position
against the shape the list declares, before anything reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, NoReturn

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from comments.extensions import db
from comments.models import MAX_ID, Comment
from comments.services import parsing
from comments.services.errors import invalid_field

# What a value of a position may be. Ids name 32-bit integer rows; counts are counters of such
# rows; scores are probabilities, or -1 for a comment not scored; moments are RFC 3339 with offset.
ID, COUNT, SCORE, MOMENT = "id", "count", "score", "moment"
DATE_POSITION = (MOMENT, ID)

MAX_CURSOR_CHARS = 500
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")


def encode_cursor(sort: str, position: list[Any]) -> str:
    """An opaque cursor: the sort it belongs to and the last row's sort key."""
    raw = json.dumps({"s": sort, "p": position}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _refuse() -> NoReturn:
    raise invalid_field("cursor", "invalid_cursor", "The cursor is not one this service gave out.")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a position")  # json's NaN, Infinity and -Infinity


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)  # not bool, a subclass of int


def _position_value(kind: str, value: Any) -> Any:
    if kind == ID and type(value) is int and 1 <= value <= MAX_ID:
        return value
    if kind == COUNT and type(value) is int and 0 <= value <= MAX_ID:
        return value
    if kind == SCORE and _is_number(value) and math.isfinite(value) and (value == -1 or 0 <= value <= 1):
        return float(value)
    if kind == MOMENT and isinstance(value, str):
        try:
            return parsing.moment(value)
        except parsing.ParseError:
            pass
    _refuse()


def decode_cursor(sort: str, cursor: str, shape: tuple[str, ...]) -> list[Any]:
    """The position in ``cursor``, one value per kind in ``shape``; a 422 for anything this service
    did not make (another sort's cursor included)."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS or not _CURSOR.fullmatch(cursor):
        _refuse()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError is a ValueError
        _refuse()
    if not isinstance(data, dict) or data.keys() != {"s", "p"} or data["s"] != sort:
        _refuse()
    position = data["p"]
    if not isinstance(position, list) or len(position) != len(shape):
        _refuse()
    return [_position_value(kind, value) for kind, value in zip(shape, position, strict=True)]


def date_cursor(sort: str, comment: Any) -> str:
    return encode_cursor(sort, [comment.created_at.isoformat(), comment.id])


def order_by_date(
    query: Select[*tuple[Any, ...]], newest_first: bool, position: list[Any] | None
) -> Select[*tuple[Any, ...]]:
    """Comments by (created_at, id), after ``position`` when given."""
    key = tuple_(Comment.created_at, Comment.id)
    if newest_first:
        if position:
            query = query.where(key < tuple_(*position))
        return query.order_by(Comment.created_at.desc(), Comment.id.desc())
    if position:
        query = query.where(key > tuple_(*position))
    return query.order_by(Comment.created_at, Comment.id)


def newest_by_id(
    query: Select[*tuple[Any, ...]], id_column: InstrumentedAttribute[int], sort: str, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of ``query``'s rows (one entity each) by descending ``id_column``: the newest ``limit``
    before the cursor's id, and the cursor after them (None on the last page). The audit log, the
    host's threads and a webhook's deliveries page this way."""
    if cursor:
        (before_id,) = decode_cursor(sort, cursor, (ID,))
        query = query.where(id_column < before_id)
    rows = list(db.session.execute(query.order_by(id_column.desc()).limit(limit + 1)).scalars())
    next_cursor = encode_cursor(sort, [rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor
