"""Percent-encoded input as the client sent it: refused unless its bytes are UTF-8.

Werkzeug decodes the path, the query string and urlencoded form bodies with ``errors="replace"``,
so "%ff%fe", "%C0%AF" (an overlong "/") and "%fe%ff" would all arrive as U+FFFD: different byte
strings would name the same thread, and a key would be stored as something its host never sent.
The bytes are read again here, strictly, before any view runs.

The path is taken from the request line (``RAW_URI``, set by gunicorn and Werkzeug's server and
test client; ``REQUEST_URI`` by others), because the test client has already replaced invalid
bytes in ``PATH_INFO``; servers that set neither give ``PATH_INFO`` its raw bytes (PEP 3333).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlsplit

from flask import request
from werkzeug.exceptions import NotFound

from comments.services.errors import Invalid

MESSAGE = "Not valid UTF-8 once percent-decoded."


def _wsgi_bytes(value: str) -> bytes:
    # WSGI strings carry the request's bytes as latin-1; a test client may hand over other text.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _raw_path() -> bytes:
    environ = request.environ
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri:
        path = urlsplit(uri).path if "://" in uri.split("?", 1)[0] else uri.split("?", 1)[0]
        return unquote_to_bytes(_wsgi_bytes(path))
    return _wsgi_bytes(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))


def _undecodable_fields(encoded: bytes) -> dict[str, list[str]]:
    """The names of the ``a=b&c=d`` pairs whose name or value is not UTF-8 once decoded."""
    fields: dict[str, list[str]] = {}
    for pair in encoded.split(b"&"):
        name, _, value = pair.partition(b"=")
        name, value = unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))
        if not (_is_utf8(name) and _is_utf8(value)):
            fields[name.decode("utf-8", "replace") or "_query"] = [MESSAGE]
    return fields


def refuse_undecodable_input() -> None:
    """A ``before_request`` hook: 404 for a path that is not UTF-8 (no resource has such an
    address), 422 naming the parameters whose query or form values are not."""
    if not _is_utf8(_raw_path()):
        raise NotFound("Nothing is found at this address (it is not valid UTF-8 once percent-decoded).")
    fields = _undecodable_fields(_wsgi_bytes(request.environ.get("QUERY_STRING", "")))
    if request.mimetype == "application/x-www-form-urlencoded":
        fields.update(_undecodable_fields(request.get_data(cache=True)))
    if fields:
        raise Invalid("invalid_encoding", "Some parameters are not valid UTF-8 once percent-decoded.", fields)
