"""Percent-encoded bytes that are not UTF-8, in a thread key or any other part of an address:
refused, never decoded to U+FFFD (which would make different byte strings name one thread)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from comments.models import Thread

# Invalid UTF-8: stray bytes, a byte-order mark's bytes, an overlong "/" and "." (both once
# decoded "safely" as U+FFFD), a truncated sequence, an encoded surrogate.
BAD_BYTES = ["%ff%fe", "%fe%ff", "%C0%AF", "%C0%AE", "%E2%82", "%ED%A0%80", "a%80b"]


@pytest.fixture()
def host(site):
    return {"Authorization": f"Bearer {site.test_api_key}"}


def _refused(response) -> bool:
    return (
        response.status_code in (404, 422)
        and response.mimetype == "application/json"
        and response.json["error"]["code"] in ("not_found", "invalid_encoding")
    )


@pytest.mark.parametrize("key", BAD_BYTES)
def test_thread_keys_that_are_not_utf8_name_no_thread(api, client, host, db, key):
    thread = f"/api/v1/sites/news/threads/{key}"
    answers = {
        "read": client.get(f"{thread}/comments"),
        "post": client.post(f"{thread}/comments", json={"body": "Hello", "author_name": "Ann"}),
        "host get": client.get(thread, headers=host),
        "host put": client.put(thread, headers=host, json={"title": "T"}),
    }
    assert {name: r.status_code for name, r in answers.items() if not _refused(r)} == {}
    assert db.session.query(Thread).count() == 0


def test_two_byte_strings_never_reach_one_thread(api, client, host, db):
    assert client.put("/api/v1/sites/news/threads/%ff%fe", headers=host, json={"title": "A"}).status_code == 404
    assert client.put("/api/v1/sites/news/threads/%fe%ff", headers=host, json={"title": "B"}).status_code == 404
    assert client.put("/api/v1/sites/news/threads/%EF%BF%BD", headers=host, json={"title": "C"}).status_code == 201
    assert [t.key for t in db.session.query(Thread)] == ["\ufffd"]  # the real U+FFFD is a key like any other


def test_utf8_keys_still_work(api, client):
    assert (
        client.post(
            "/api/v1/sites/news/threads/caf%C3%A9%2F%E2%82%AC/comments", json={"body": "Hello", "author_name": "Ann"}
        ).status_code
        == 201
    )
    assert api.read("café/€").json["comments"][0]["body"] == "Hello"
    assert client.get("/api/v1/sites/news/counts?keys=caf%C3%A9%2F%E2%82%AC").json == {"counts": {"café/€": 1}}


@pytest.mark.parametrize("bad", BAD_BYTES)
def test_query_values_and_names_that_are_not_utf8_are_refused(api, client, host, bad):
    for path, headers in [
        (f"/api/v1/sites/news/counts?keys=a,{bad}", {}),
        (f"/api/v1/sites/news/threads/a/comments?sort={bad}", {}),
        (f"/api/v1/sites/news/comments?thread={bad}", host),
        (f"/api/v1/sites/news/comments?{bad}=1", host),
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == 422, (path, response.status_code)
        assert response.json["error"]["code"] == "invalid_encoding"
        assert len(response.json["error"]["fields"]) == 1


@pytest.mark.parametrize("bad", ["%ff%fe", "%C0%AF"])
def test_a_real_server_refuses_them_too(live_server, site, bad):
    """Werkzeug's server hands the raw bytes over in PATH_INFO (the test client replaces them
    first): both roads reach the same check."""
    address = urlsplit(live_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("GET", f"/api/v1/sites/news/threads/{bad}/comments")
        response = connection.getresponse()
        assert response.status == 404 and response.getheader("Content-Type") == "application/json"
        response.read()
        connection.request("GET", f"/api/v1/sites/news/counts?keys={bad}")
        response = connection.getresponse()
        assert response.status == 422
        response.read()
    finally:
        connection.close()
