"""The moderation API's authors: the person behind queue items, their page, their status."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, set_settings


@pytest.fixture()
def auth(client, moderator):
    response = client.post("/api/v1/auth/token", json={"email": "mod@news.example", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


def _queue(client, auth, **params):
    response = client.get("/api/v1/moderation/queue", query_string=params, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def test_the_queue_filters_by_author(client, auth, api, site, db):
    from comments.models import Comment

    set_settings(site, premoderation="all")
    ann = [api.post(f"ann {i}", "Ann", ip="192.0.2.10").json["comment"]["id"] for i in range(2)]
    bob = api.post("bob's", "Bob", ip="192.0.2.11").json["comment"]["id"]
    ann_id, bob_id = (db.session.get(Comment, c).author_id for c in (ann[0], bob))
    assert [i["comment"]["id"] for i in _queue(client, auth, author=str(ann_id))["items"]] == ann
    assert [i["comment"]["id"] for i in _queue(client, auth, author=str(bob_id))["items"]] == [bob]
    assert _queue(client, auth, author=str(ann_id + bob_id + 100))["items"] == []


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1e3", "99999999999999", "", " 5"])
def test_a_malformed_author_filter_is_a_422_naming_the_field(client, auth, site, bad):
    response = client.get("/api/v1/moderation/queue", query_string={"author": bad}, headers=auth)
    assert response.status_code == 422, response.json
    assert "author" in response.json["error"]["fields"]
