"""Ids past the 32-bit id columns, from a path, a body, a query or a cursor: unknown, never a 500.

PostgreSQL refuses to compare an INTEGER column with a larger number and SQLite cannot bind one
past 64 bits; either would surface as a server error if such a number reached the database.
"""

from __future__ import annotations

import base64
import json

import pytest

BIG = 2**31  # one past the id columns
HUGE = 10**30  # past 64 bits too


def _cursor(sort: str, position: list) -> str:
    raw = json.dumps({"s": sort, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture()
def mod_auth(client, moderator):
    token = client.post(
        "/api/v1/auth/token", json={"email": "mod@news.example", "password": "correct horse battery"}
    ).json["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("value", [BIG, HUGE])
def test_public_api(api, client, value):
    api.post("a root")
    assert client.get(f"/api/v1/comments/{value}").status_code == 404
    assert client.patch(f"/api/v1/comments/{value}", json={"body": "x"}).status_code == 404
    assert client.post(f"/api/v1/comments/{value}/reports", json={"reason": "spam"}).status_code == 404
    reply = api.post("a reply", parent_id=value)
    assert reply.status_code == 422
    assert "parent_id" in reply.json["error"]["fields"]
    page = api.read(cursor=_cursor("oldest", ["2026-01-01T00:00:00+00:00", value]))
    assert page.status_code == 422
    assert page.json["error"]["fields"].keys() == {"cursor"}


@pytest.mark.parametrize("value", [BIG, HUGE])
def test_moderation_api(client, mod_auth, value):
    decision = client.post(
        f"/api/v1/moderation/comments/{value}/decision", json={"action": "approve"}, headers=mod_auth
    )
    assert decision.status_code == 404
    audit = client.get("/api/v1/moderation/audit", query_string={"comment_id": value}, headers=mod_auth)
    assert audit.status_code == 422


@pytest.mark.parametrize("value", [BIG, HUGE])
def test_host_api(client, site, value):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    assert client.delete(f"/api/v1/sites/news/keys/{value}", headers=host).status_code == 404
    assert client.get(f"/api/v1/sites/news/webhooks/{value}", headers=host).status_code == 404
    threads = client.get(
        "/api/v1/sites/news/threads", query_string={"cursor": _cursor("threads", [value])}, headers=host
    )
    assert threads.status_code == 422


def test_the_openapi_document_states_the_bound(client):
    spec = client.get("/api/v1/openapi.json").json
    parameters = spec["paths"]["/api/v1/comments/{comment_id}"]["parameters"]
    (comment_id,) = [p for p in parameters if p["name"] == "comment_id"]
    assert comment_id["schema"]["maximum"] == 2**31 - 1


@pytest.mark.parametrize("zero", [0x0660, 0xFF10, 0x09E6])  # Arabic-Indic, fullwidth, Bengali digits
def test_ids_in_paths_are_ascii_digits(api, client, zero):
    """Werkzeug's <int:> matches any script's digits: "/comments/١" would name comment 1."""
    comment_id = str(api.post("a root").json["comment"]["id"])
    other_digits = comment_id.translate({ord("0") + d: zero + d for d in range(10)})
    assert client.get(f"/api/v1/comments/{comment_id}").status_code == 200
    assert client.get(f"/api/v1/comments/{other_digits}").status_code == 404
    assert client.post(f"/api/v1/comments/{other_digits}/reports", json={"reason": "spam"}).status_code == 404
