"""Keyset pagination shared by every list: opaque cursors and date-ordered pages."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, tuple_

from comments.models import MAX_ID, Comment
from comments.services.errors import invalid_field


def encode_cursor(sort: str, position: list[Any]) -> str:
    """An opaque cursor: the sort it belongs to and the last row's sort key."""
    raw = json.dumps({"s": sort, "p": position}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str, parse: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """The position in ``cursor``, read by ``parse``; a 422 for anything this service did not make."""
    bad = invalid_field("cursor", "invalid_cursor", "The cursor is not one this service gave out.")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("s") != sort or not isinstance(data.get("p"), list):
            raise bad
        position = parse(data["p"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    # Numbers in a position are compared with id (and counter) columns: past them is not a position.
    if any(isinstance(v, int) and not -MAX_ID - 1 <= v <= MAX_ID for v in position):
        raise bad
    return position


def date_position(position: list[Any]) -> list[Any]:
    created_at, comment_id = position
    return [datetime.fromisoformat(created_at), int(comment_id)]


def date_cursor(sort: str, comment: Any) -> str:
    return encode_cursor(sort, [comment.created_at.isoformat(), comment.id])


def order_by_date(query: Select, newest_first: bool, position: list[Any] | None) -> Select:
    """Comments by (created_at, id), after ``position`` when given."""
    key = tuple_(Comment.created_at, Comment.id)
    if newest_first:
        if position:
            query = query.where(key < tuple_(*position))
        return query.order_by(Comment.created_at.desc(), Comment.id.desc())
    if position:
        query = query.where(key > tuple_(*position))
    return query.order_by(Comment.created_at, Comment.id)
