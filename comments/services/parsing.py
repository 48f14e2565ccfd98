"""Strict parsers of text a client sent: integers, decimals and moments, each in one place.

Python's own parsers are lenient in ways that reach the database as server errors or let
different texts mean the same value: ``int()`` takes "١٢" (Arabic-Indic digits), "1_000" and
surrounding spaces, while ``"²".isdigit()`` is true and ``int("²")`` raises; ``float()`` takes
"nan" and "inf"; ``datetime.fromisoformat`` takes many forms that are not RFC 3339, and a moment
near the ends of the calendar has no UTC equivalent (``astimezone`` overflows). Every parser of
client text goes through these functions; they raise ``ParseError`` with a message for the client.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

# ASCII digits only: ``\d`` would match every script's digits (and Werkzeug's <int:> uses it).
INTEGER_PATTERN = r"[0-9]{1,20}"
_INTEGER = re.compile(INTEGER_PATTERN)
_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20}")
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<fraction>\.[0-9]{1,9})?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<hours>[0-9]{2}):(?P<minutes>[0-9]{2}))"
)


class ParseError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def integer(text: str, *, minimum: int, maximum: int) -> int:
    """A whole number written in ASCII digits (no sign, spaces or underscores), in [minimum, maximum]."""
    if not isinstance(text, str) or not _INTEGER.fullmatch(text):
        raise ParseError("Not a whole number (digits 0-9 only).")
    value = int(text)
    if not minimum <= value <= maximum:
        raise ParseError(f"Must be between {minimum} and {maximum}.")
    return value


def decimal(text: str, *, minimum: float = 0.0, maximum: float = math.inf) -> float:
    """A finite decimal number written in ASCII digits and at most one point (no sign, exponent, "nan"
    or "inf"), in [minimum, maximum]."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise ParseError("Not a number (digits 0-9 and a decimal point only).")
    value = float(text)
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise ParseError(f"Must be between {minimum} and {maximum}.")
    return value


def moment(text: str) -> datetime:
    """An RFC 3339 date-time with its offset (``2026-03-01T09:15:00Z``), as an aware UTC datetime.

    A moment whose UTC equivalent falls outside years 1-9999 (``0001-01-01T00:00:00+01:00``) cannot
    be stored or compared, so it is refused like any other invalid moment (never clamped: a moment
    that silently became another one would make filters and cursors lie).
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ParseError("Not an RFC 3339 date-time with an offset (e.g. 2026-03-01T09:15:00Z).")
    fraction = (match["fraction"] or ".")[1:7].ljust(6, "0")
    try:
        local = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}")
        offset = (
            timedelta(0)
            if match["utc"]
            else (
                (1 if match["sign"] == "+" else -1)
                * timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
            )
        )
        zone = timezone(offset)  # refuses offsets of a day or more
    except ValueError:
        raise ParseError("Not a valid date-time (no such day, hour or offset).") from None
    return in_utc(local.replace(tzinfo=zone))


def in_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; ParseError when it has no UTC equivalent within years 1-9999."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ParseError("A date-time needs its offset from UTC (Z or ±hh:mm).")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ParseError("The date-time is outside years 1-9999 once converted to UTC.") from None
