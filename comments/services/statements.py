"""Statements that change rows (UPDATE, DELETE), run in the caller's unit of work."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult
from sqlalchemy.sql import Executable

from comments.extensions import db


def rows_changed(statement: Executable, params: Any = None) -> int:
    """Run ``statement`` and say how many rows it changed. (SQLAlchemy types ``Session.execute``
    as a plain ``Result``; a data-changing statement's is a ``CursorResult``, which counts them.)"""
    return cast(CursorResult[Any], db.session.execute(statement, params)).rowcount
