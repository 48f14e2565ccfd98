"""Crafted input in every list's cursor, in query integers and in export dates: a 4xx JSON error,
never a 500 (nor, for the NDJSON export, an HTML page or a broken stream).

Each list is asked with cursors this service could never have given out: NaN and Infinity (which
Python's JSON reader accepts), numbers past any id column, wrong types and shapes, moments outside
the calendar once converted to UTC, text that is not base64 or not JSON.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.helpers import Api


def raw_cursor(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MOMENT = '"2026-01-01T00:00:00+00:00"'
# Values no position may hold, written as JSON text (NaN and Infinity are not JSON, but Python's
# reader takes them; 1e309 reads as an infinite float).
BAD_NUMBERS = [
    "Infinity",
    "-Infinity",
    "NaN",
    "1e309",
    "-1e309",
    str(2**31),
    str(2**63),
    str(2**64),
    str(10**30),
    "-1",
    '"1"',
    "true",
    "null",
    "[1]",
    '{"a":1}',
    "1.5",
]
BAD_MOMENTS = [
    '"0001-01-01T00:00:00+01:00"',
    '"9999-12-31T23:59:59-01:00"',
    '"2026-01-01T00:00:00"',
    '"2026-01-01"',
    '"not a date"',
    '"2026-02-30T00:00:00Z"',
    '"2026-01-01T00:00:00+24:00"',
    '"\\u0661\\u0669\\u0667\\u0660-01-01T00:00:00Z"',
    "Infinity",
    "1",
    "null",
]
# Scores are probabilities, or -1 for a comment not scored.
BAD_SCORES = ["Infinity", "-Infinity", "NaN", "1e309", "2", "-0.5", "-2", '"0.5"', "true", "null", "[0.5]"]


def forged_cursors(sort: str, shape: list[str]) -> list[str]:
    """Every bad value in every slot of a position of ``shape`` (``"n"`` ids and counts, ``"s"``
    scores, ``"m"`` moments), then broken cursors of every other kind."""
    good = {"n": "1", "s": "0.5", "m": MOMENT}
    bad_values = {"n": BAD_NUMBERS, "s": BAD_SCORES, "m": BAD_MOMENTS}
    cursors = []
    for slot, kind in enumerate(shape):
        for bad in bad_values[kind]:
            values = [good[k] for k in shape]
            values[slot] = bad
            cursors.append(raw_cursor(f'{{"s":"{sort}","p":[{",".join(values)}]}}'))
    position = ",".join(good[k] for k in shape)
    cursors += [
        raw_cursor(f'{{"s":"{sort}","p":[{position},1]}}'),  # one value too many
        raw_cursor(f'{{"s":"{sort}","p":[{position}][:-1]}}'),
        raw_cursor(f'{{"s":"{sort}","p":[[{position}]]}}'),  # nested
        raw_cursor(f'{{"s":"{sort}","p":{{"0":1}}}}'),
        raw_cursor(f'{{"s":"{sort}","p":[{position}],"x":1}}'),
        raw_cursor(f'{{"s":"other","p":[{position}]}}'),
        raw_cursor(f'{{"s":["{sort}"],"p":[{position}]}}'),
        raw_cursor(f'[{{"s":"{sort}","p":[{position}]}}]'),
        raw_cursor("Infinity"),
        raw_cursor("NaN"),
        raw_cursor("null"),
        raw_cursor(str(2**64)),
        raw_cursor(b'{"s":"\xff\xfe","p":[]}'),  # not UTF-8
        raw_cursor("[" * 300 + "]" * 300),
        "!!!",
        "a b",
        "====",
        "x",
        "%ff",
        "A" * 600,
    ]
    return cursors


def assert_refused(response, *, html: bool = False) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if html:
        assert response.mimetype == "text/html"
    else:
        assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
        assert response.json["error"]["code"]


@pytest.fixture()
def host(site) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.test_api_key}"}


@pytest.fixture()
def mod_auth(client, moderator) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", json={"email": "mod@news.example", "password": "correct horse battery"}
    ).json["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def webhook_id(app, client, host, monkeypatch) -> int:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    response = client.post(
        "/api/v1/sites/news/webhooks",
        headers=host,
        json={"url": "http://127.0.0.1:9/hook", "events": ["comment.published"]},
    )
    assert response.status_code == 201, response.json
    return response.json["webhook"]["id"]


# (name, sort in the cursor, position shape, how to ask with a cursor)
LISTS: list[tuple[str, str, list[str]]] = [
    ("read-oldest", "oldest", ["m", "n"]),
    ("read-newest", "newest", ["m", "n"]),
    ("read-top", "top", ["n", "m", "n"]),
    ("read-unknown-thread", "oldest", ["m", "n"]),
    ("queue-oldest", "oldest", ["m", "n"]),
    ("queue-newest", "newest", ["m", "n"]),
    ("queue-score", "score", ["s", "n"]),
    ("audit", "audit", ["n"]),
    ("threads", "threads", ["n"]),
    ("export", "export", ["m", "n"]),
    ("export-changed", "export-changed", ["m", "n"]),
    ("stream", "export", ["m", "n"]),
    ("stream-changed", "export-changed", ["m", "n"]),
    ("privacy-export", "export", ["m", "n"]),
    ("deliveries", "deliveries", ["n"]),
    ("replies", "replies", ["m", "n"]),
]


def _asker(name: str, client, api: Api, host, mod_auth, request) -> Any:
    since = {"changed_since": "2000-01-01T00:00:00Z"}
    if name.startswith("read-"):
        sort = {"read-unknown-thread": "oldest"}.get(name, name.removeprefix("read-"))
        key = "no-such-thread" if name == "read-unknown-thread" else "article-1"
        return lambda cursor: api.read(key, sort=sort, cursor=cursor)
    if name.startswith("queue-"):
        sort = name.removeprefix("queue-")
        return lambda cursor: client.get(
            "/api/v1/moderation/queue", headers=mod_auth, query_string={"sort": sort, "cursor": cursor}
        )
    if name == "audit":
        return lambda cursor: client.get("/api/v1/moderation/audit", headers=mod_auth, query_string={"cursor": cursor})
    if name == "threads":
        return lambda cursor: client.get("/api/v1/sites/news/threads", headers=host, query_string={"cursor": cursor})
    if name in ("export", "export-changed", "stream", "stream-changed"):
        path = "/api/v1/sites/news/comments" + ("/export" if name.startswith("stream") else "")
        extra = since if name.endswith("changed") else {}
        return lambda cursor: client.get(path, headers=host, query_string={"cursor": cursor, **extra})
    if name == "privacy-export":
        return lambda cursor: client.post(
            "/api/v1/sites/news/privacy/export",
            headers=host,
            query_string={"cursor": cursor},
            json={"email": "ann@example.org"},
        )
    if name == "deliveries":
        hook = request.getfixturevalue("webhook_id")
        return lambda cursor: client.get(
            f"/api/v1/sites/news/webhooks/{hook}/deliveries", headers=host, query_string={"cursor": cursor}
        )
    if name == "replies":
        root = api.read().json["comments"][0]["id"]
        return lambda cursor: client.get(f"/api/v1/comments/{root}/replies", query_string={"cursor": cursor})
    raise AssertionError(name)


@pytest.mark.parametrize("name, sort, shape", LISTS, ids=[entry[0] for entry in LISTS])
def test_every_list_refuses_forged_cursors(client, api, host, mod_auth, request, name, sort, shape):
    api.post("A root", author_email="ann@example.org")
    api.post("Another root", author_email="ann@example.org")
    ask = _asker(name, client, api, host, mod_auth, request)
    failures = []
    for cursor in forged_cursors(sort, shape):
        response = ask(cursor)
        body = response.get_data(as_text=True)
        if not (
            response.status_code == 422
            and response.mimetype == "application/json"
            and "cursor" in (response.json["error"].get("fields") or {})
        ):
            failures.append((cursor, response.status_code, body[:120]))
    assert not failures, failures


def test_cursors_this_service_gives_out_still_page(client, api, site, host, mod_auth):
    from tests.helpers import set_settings

    for i in range(3):
        api.post(f"Root {i}", author_email="ann@example.org")
    set_settings(site, premoderation="all")
    for i in range(3):
        assert api.post(f"Held {i}").status_code == 202
    for sort in ("oldest", "newest", "top"):
        cursor = api.read(sort=sort, limit=1).json["next_cursor"]
        assert api.read(sort=sort, limit=1, cursor=cursor).status_code == 200
    audit = client.get("/api/v1/moderation/audit", headers=mod_auth, query_string={"limit": 1}).json
    assert (
        client.get(
            "/api/v1/moderation/audit", headers=mod_auth, query_string={"limit": 1, "cursor": audit["next_cursor"]}
        ).status_code
        == 200
    )
    for sort in ("oldest", "newest", "score"):
        queue = client.get("/api/v1/moderation/queue", headers=mod_auth, query_string={"sort": sort, "limit": 1}).json
        assert queue["next_cursor"], sort
        assert (
            client.get(
                "/api/v1/moderation/queue",
                headers=mod_auth,
                query_string={"sort": sort, "limit": 1, "cursor": queue["next_cursor"]},
            ).status_code
            == 200
        )
    page = client.get("/api/v1/sites/news/comments", headers=host, query_string={"limit": 1}).json
    stream = client.get(
        "/api/v1/sites/news/comments/export", headers=host, query_string={"cursor": page["next_cursor"]}
    )
    assert stream.status_code == 200 and len(stream.get_data().splitlines()) == 5


@pytest.mark.parametrize(
    "cursor", [str(2**63), str(2**64), str(10**30), "-1", "0", "1_0", " 5", "\u0661\u0662", "\u00b2", "1e3", "Infinity"]
)
def test_audit_cursors_of_the_old_integer_form_past_the_ids_are_refused(client, mod_auth, cursor):
    response = client.get("/api/v1/moderation/audit", headers=mod_auth, query_string={"cursor": cursor})
    assert response.status_code == 422 and response.json["error"]["fields"].keys() == {"cursor"}


# --- query integers ---------------------------------------------------------------------------

BAD_INTEGERS = [
    "\u00b2",
    "\u2460",
    "\u0661\u0662",
    "\uff11",
    "1_0",
    " 5",
    "5 ",
    "+5",
    "-5",
    "5.0",
    "1e1",
    "0x10",
    "",
    str(2**64),
    "9" * 5000,
]


@pytest.mark.parametrize(
    "path, field, auth",
    [
        ("/api/v1/sites/news/threads/article-1/comments", "limit", None),
        ("/api/v1/moderation/queue", "limit", "mod"),
        ("/api/v1/moderation/audit", "limit", "mod"),
        ("/api/v1/moderation/audit", "comment_id", "mod"),
        ("/api/v1/sites/news/threads", "limit", "host"),
        ("/api/v1/sites/news/comments", "limit", "host"),
    ],
)
def test_query_integers_are_ascii_digits_within_bounds(client, api, host, mod_auth, path, field, auth):
    headers = {"mod": mod_auth, "host": host}.get(auth or "", {})
    failures = []
    for value in BAD_INTEGERS:
        response = client.get(path, headers=headers, query_string={field: value})
        if not (response.status_code == 422 and field in response.json["error"]["fields"]):
            failures.append((value[:20], response.status_code))
    assert not failures, failures
    assert client.get(path, headers=headers, query_string={field: "7"}).status_code == 200


# --- export dates -----------------------------------------------------------------------------

BAD_MOMENT_TEXTS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "20260101T000000Z",
    "2026-W01-1T00:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01T23:59:60Z",
    "\u0662026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5+00:00 ",
    "Infinity",
]


@pytest.mark.parametrize("path", ["/api/v1/sites/news/comments", "/api/v1/sites/news/comments/export"])
@pytest.mark.parametrize("field", ["since", "until", "changed_since"])
def test_export_dates_outside_the_calendar_or_not_rfc3339_are_refused(api, client, host, path, field):
    api.post("A root")
    failures = []
    for value in BAD_MOMENT_TEXTS:
        response = client.get(path, headers=host, query_string={field: value})
        if not (
            response.status_code == 422
            and response.mimetype == "application/json"
            and field in response.json["error"]["fields"]
        ):
            failures.append((value, response.status_code, response.get_data(as_text=True)[:100]))
    assert not failures, failures


@pytest.mark.parametrize("path", ["/api/v1/sites/news/comments", "/api/v1/sites/news/comments/export"])
def test_export_dates_at_the_ends_of_the_calendar_in_utc_are_taken(api, client, host, path):
    api.post("A root")
    for query, count in [
        ({"since": "0001-01-01T00:00:00Z"}, 1),
        ({"until": "9999-12-31T23:59:59.999999Z"}, 1),
        ({"since": "0001-01-01T01:00:00+01:00", "until": "9999-12-31T22:59:59-01:00"}, 1),
        ({"changed_since": "0001-01-01T00:00:00z"}, 1),
        ({"since": "9999-12-31T23:59:59Z"}, 0),
        ({"until": "2000-01-01 00:00:00.123456789+02:00"}, 0),
    ]:
        response = client.get(path, headers=host, query_string=query)
        assert response.status_code == 200, (query, response.get_data(as_text=True)[:200])
        if path.endswith("/export"):
            assert len(response.get_data().splitlines()) == count, query
        else:
            assert len(response.json["comments"]) == count, query


# --- numbers in JSON bodies -------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309", str(2**64), "1.5"])
def test_json_bodies_with_special_or_huge_numbers_are_refused(api, client, host, mod_auth, number):
    """Python's JSON reader takes NaN and Infinity; no number field may."""
    comment_id = api.post("A root").json["comment"]["id"]
    asks = [
        ("POST", api.thread_url(), {}, f'{{"body": "x", "author_name": "A", "parent_id": {number}}}', "parent_id"),
        ("PATCH", "/api/v1/sites/news/settings", host, f'{{"thresholds": {{"toxicity": {number}}}}}', "thresholds"),
        (
            "PATCH",
            "/api/v1/sites/news/settings",
            host,
            f'{{"reject_thresholds": {{"toxicity": {number}}}}}',
            "reject_thresholds",
        ),
        ("PATCH", "/api/v1/sites/news/settings", host, f'{{"max_depth": {number}}}', "max_depth"),
        (
            "POST",
            f"/api/v1/moderation/comments/{comment_id}/decision",
            mod_auth,
            f'{{"action": "reject", "expected_version": {number}}}',
            "expected_version",
        ),
    ]
    for method, path, headers, body, field in asks:
        response = client.open(path, method=method, headers=headers, data=body, content_type="application/json")
        if number == str(2**64) and field == "expected_version":
            # any integer is a version the moderator may have seen; a wrong one is a conflict
            assert response.status_code == 409, (path, body, response.status_code)
            continue
        assert response.status_code == 422, (path, body, response.status_code)
        assert field in response.json["error"]["fields"], (path, response.json)
