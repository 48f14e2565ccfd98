"""Checks on text from outside, shared by the API schemas and the services."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from comments.services.errors import invalid_field

BODY_MAX = 10_000
AUTHOR_NAME_MAX = 64
THREAD_KEY_MAX = 255

# A site's slug, wherever one comes from (a URL, a query, a form, the CLI); the sites table's
# column holds at most 64. Anchored because the API's ``Regexp`` validators ``match`` with it;
# ``(?!\n)`` because Python's ``$`` also matches before a final newline (the same pattern serves
# the OpenAPI document, whose regex dialect has no ``\Z``).
SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$(?!\n)")
# What may name a reason to filter by: a reason code or a classifier label.
REASON_FILTER_PATTERN = re.compile(r"^[a-z_]{1,40}$(?!\n)")

# C0 controls except tab, newline and carriage return; DEL and C1 controls; lone surrogates
# (JSON can carry "\ud800", which no storage or encoder should be handed).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# What no stored string may hold, whatever the field: PostgreSQL refuses NUL in text, and no
# encoder can write a lone surrogate (JSON can carry "\ud800").
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable_strings(data: object, path: str = "") -> dict[str, list[str]]:
    """Field paths (``a.b.0``) of strings, keys included, that hold NUL or lone surrogates."""
    found: dict[str, list[str]] = {}
    message = ["Contains a NUL character or invalid Unicode (a lone surrogate)."]
    if isinstance(data, str):
        if _UNSTORABLE.search(data):
            found[path or "_schema"] = message
    elif isinstance(data, Mapping):  # a query's MultiDictProxy too, not only a JSON object
        for key, value in data.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                found[(path + "." if path else "") + key.encode("utf-8", "replace").decode()] = message
                continue
            found.update(unstorable_strings(value, name))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found.update(unstorable_strings(value, f"{path}.{index}" if path else str(index)))
    return found


class StorableSchema(ma.Schema):
    """A schema for input from outside: a string no database or encoder can take, in any field
    (titles and reasons as much as bodies, keys of nested dicts included), is refused here (a 422)
    instead of failing where it is stored or rendered (a 500)."""

    @ma.pre_load
    def _refuse_unstorable_strings(self, data: Any, **kwargs: Any) -> Any:
        found = unstorable_strings(data)
        if found:
            raise ma.ValidationError(found)
        return data


class TextError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_text(value: str, *, minimum: int, maximum: int, multiline: bool, what: str) -> str:
    """``value`` unchanged if acceptable; TextError otherwise. Never truncates."""
    pattern = _FORBIDDEN if multiline else _FORBIDDEN_IN_LINE
    if pattern.search(value):
        raise TextError("invalid_characters", f"The {what} contains control characters or invalid Unicode.")
    if len(value.strip()) < minimum:
        raise TextError("too_short", f"The {what} must not be empty.")
    if len(value) > maximum:
        raise TextError("too_long", f"The {what} is {len(value)} characters; at most {maximum} are allowed.")
    return value


def check_body(body: str) -> str:
    return check_text(body, minimum=1, maximum=BODY_MAX, multiline=True, what="comment")


def check_author_name(name: str) -> str:
    """Names are compared and stored without surrounding spaces."""
    return check_text(name.strip(), minimum=1, maximum=AUTHOR_NAME_MAX, multiline=False, what="name")


def is_one_clean_line(value: str) -> bool:
    """No control characters (tab and newline included), no lone surrogates."""
    return not _FORBIDDEN_IN_LINE.search(value)


def check_thread_key(key: str) -> str:
    if not key or len(key) > THREAD_KEY_MAX:
        raise TextError("invalid_thread_key", f"A thread key is 1–{THREAD_KEY_MAX} characters.")
    if not is_one_clean_line(key):
        raise TextError("invalid_thread_key", "A thread key must not contain control characters.")
    return key


def checked_thread_key(key: str) -> str:
    """``check_thread_key`` for a key a client sent: refused as a 422 on the field ``key``."""
    try:
        return check_thread_key(key)
    except TextError as exc:
        raise invalid_field("key", exc.code, exc.message) from None
