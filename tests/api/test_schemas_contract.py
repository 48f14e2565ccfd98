"""The schemas are the contract: every answer is what its schema declares, nothing more.

Thread reads and replies pages (the hot path) are built as dicts by ``threads``, not dumped by the
schemas: these tests hold the two together, field by field and value by value, on a thread with
replies, a tombstone, an edited comment, reply paging cursors and a reply past the depth cap. Other
answers are dumped by their schemas; they are checked against the OpenAPI document as served.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest

from comments.api.schemas import CommentSchema, RepliesPageSchema, ThreadPageSchema
from comments.extensions import db
from comments.models import Comment
from comments.services import threads
from tests.helpers import answer_conforms, bearer, conforms, sso_token

# What only an author's own read (or their post's answer) carries.
AUTHORS_ONLY = {"moderation_note", "editable_until"}
# What only the comments of thread reads and replies pages carry; reply_to only past the depth cap.
TREE_ONLY = {"replies_next_cursor", "reply_to"}


def _flatten(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for node in nodes:
        found.append(node)
        found += _flatten(node["replies"])
    return found


def _post(api, body: str, parent_id: int | None = None) -> dict[str, Any]:
    response = api.post(body, body.split()[0], parent_id=parent_id)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture()
def conversation(api, client, site) -> dict[str, int]:
    """A thread with all a read can show: replies nested three deep (and one past the depth cap,
    which says whom it answers), more replies than a comment carries (a replies cursor), an
    edited comment and a deleted comment kept as a tombstone for its reply."""
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    assert client.patch(f"/api/v1/sites/{site.slug}/settings", headers=host, json={"max_depth": 3}).status_code == 200
    root = _post(api, "root of it all")["comment"]["id"]
    replies = [_post(api, f"reply {n}", root)["comment"]["id"] for n in range(threads.REPLIES_SHOWN + 2)]
    deeper = _post(api, "deeper still", replies[0])["comment"]["id"]
    capped = _post(api, "past the cap", deeper)["comment"]["id"]
    edited = _post(api, "edited later")
    token = {"X-Edit-Token": edited["edit_token"]}
    assert (
        client.patch(
            f"/api/v1/comments/{edited['comment']['id']}", headers=token, json={"body": "edited, **now**"}
        ).status_code
        == 200
    )
    gone = _post(api, "deleted but answered")
    _post(api, "the answer", gone["comment"]["id"])
    assert (
        client.delete(
            f"/api/v1/comments/{gone['comment']['id']}", headers={"X-Edit-Token": gone["edit_token"]}
        ).status_code
        == 204
    )
    for n in range(3):
        _post(api, f"another root {n}")
    return {"root": root, "capped": capped, "edited": edited["comment"]["id"], "gone": gone["comment"]["id"]}


def _check_tree_node(node: dict[str, Any]) -> None:
    """One comment of a thread read: exactly the schema's fields (less the author's), and the
    values the schema gives the stored comment."""
    declared = set(CommentSchema().fields) - AUTHORS_ONLY
    expected = declared if node.get("reply_to") else declared - {"reply_to"}
    assert set(node) == expected, node["id"]
    dumped = CommentSchema().dump(db.session.get(Comment, node["id"]))
    assert set(dumped) == declared - TREE_ONLY
    assert {k: v for k, v in node.items() if k not in TREE_ONLY and k != "replies"} == {
        k: v for k, v in dumped.items() if k != "replies"
    }


def test_a_thread_read_is_what_the_schema_declares_and_dumps(api, conversation):
    page = api.read(limit=3).json
    assert ThreadPageSchema().validate(page) == {}  # types, and nothing undeclared (unknown fields raise)
    assert set(page) == set(ThreadPageSchema().fields)
    assert set(page["thread"]) == set(ThreadPageSchema().fields["thread"].schema.fields)
    assert page["next_cursor"] is not None
    nodes = _flatten(page["comments"])
    for node in nodes:
        _check_tree_node(node)
    by_id = {node["id"]: node for node in nodes}
    assert by_id[conversation["root"]]["replies_next_cursor"] is not None
    assert by_id[conversation["capped"]]["reply_to"]["author_name"] == "deeper"
    assert by_id[conversation["edited"]]["edited_at"] is not None
    assert by_id[conversation["gone"]]["status"] == "deleted"
    assert by_id[conversation["gone"]]["body"] is None


def test_a_replies_page_is_what_the_schema_declares_and_dumps(api, conversation):
    root = next(c for c in api.read().json["comments"] if c["id"] == conversation["root"])
    page = api.client.get(
        f"/api/v1/comments/{root['id']}/replies", query_string={"cursor": root["replies_next_cursor"], "limit": 1}
    ).json
    assert RepliesPageSchema().validate(page) == {}
    assert set(page) == set(RepliesPageSchema().fields)
    assert page["next_cursor"] is not None and page["comments"]
    for node in _flatten(page["comments"]):
        _check_tree_node(node)


def test_a_schema_refuses_what_it_does_not_declare():
    """The check above can fail: an undeclared field or a wrong type is an error."""
    node = {
        "id": 1,
        "parent_id": None,
        "author_name": "Ann",
        "body": "x",
        "body_html": "<p>x</p>",
        "status": "published",
        "created_at": "2026-01-01T00:00:00.000Z",
        "edited_at": None,
        "reply_count": 0,
        "replies": [],
        "replies_next_cursor": None,
    }
    page = {
        "thread": {"key": "k", "title": "", "url": "", "closed": False, "comment_count": 1},
        "comments": [node],
        "next_cursor": None,
    }
    assert ThreadPageSchema().validate(page) == {}
    for wrong in ({"reactions": {}}, {"reply_count": "many"}, {"created_at": "yesterday"}, {"id": None}, {"body": 5}):
        assert ThreadPageSchema().validate({**page, "comments": [{**node, **wrong}]}), wrong


# --- answers against the OpenAPI document -----------------------------------------------------


def test_the_public_answers_are_what_the_openapi_document_describes(api, client, conversation):
    thread = "/api/v1/sites/{site_slug}/threads/{key}/comments"
    one = "/api/v1/comments/{comment_id}"
    answer_conforms(client, api.read(limit=3), thread, "get")
    answer_conforms(
        client,
        client.get(f"/api/v1/comments/{conversation['root']}/replies"),
        "/api/v1/comments/{comment_id}/replies",
        "get",
    )
    posted = api.post("a new one")
    answer_conforms(client, posted, thread, "post")
    assert set(posted.json["comment"]) == set(CommentSchema().fields) - TREE_ONLY
    token = {"X-Edit-Token": posted.json["edit_token"]}
    comment_id = posted.json["comment"]["id"]
    as_reader = client.get(f"/api/v1/comments/{comment_id}")
    assert set(as_reader.json["comment"]) == set(CommentSchema().fields) - TREE_ONLY - AUTHORS_ONLY
    answer_conforms(client, as_reader, one, "get")
    answer_conforms(client, client.get(f"/api/v1/comments/{comment_id}", headers=token), one, "get")
    answer_conforms(
        client, client.patch(f"/api/v1/comments/{comment_id}", headers=token, json={"body": "new"}), one, "patch"
    )
    tombstone = client.get(f"/api/v1/comments/{conversation['gone']}")
    assert tombstone.json["comment"]["author_name"] is None
    answer_conforms(client, tombstone, one, "get")
    reported = client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"})
    assert reported.json == {"report": {"comment_id": comment_id, "reason": "spam"}}
    answer_conforms(client, reported, "/api/v1/comments/{comment_id}/reports", "post")


def test_the_host_answers_are_what_the_openapi_document_describes(api, client, site, conversation):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    base = "/api/v1/sites/{site_slug}"
    at = f"/api/v1/sites/{site.slug}"
    exported = client.get(f"{at}/comments", headers=host)
    assert exported.json["comments"]
    answer_conforms(client, exported, f"{base}/comments", "get")
    answer_conforms(client, client.get(f"{at}/threads", headers=host), f"{base}/threads", "get")
    answer_conforms(client, client.get(f"{at}/threads/article-1", headers=host), f"{base}/threads/{{key}}", "get")
    answer_conforms(
        client,
        client.put(f"{at}/threads/new-one", headers=host, json={"title": "New"}),
        f"{base}/threads/{{key}}",
        "put",
    )
    answer_conforms(client, client.post(f"{at}/keys", headers=host, json={"label": "spare"}), f"{base}/keys", "post")
    answer_conforms(client, client.get(f"{at}/keys", headers=host), f"{base}/keys", "get")


def test_the_sign_in_answers_are_what_the_openapi_document_describes(api, client, site):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    secret = client.post(f"/api/v1/sites/{site.slug}/sso/secret", headers=host)
    answer_conforms(client, secret, "/api/v1/sites/{site_slug}/sso/secret", "post")
    token = bearer(sso_token(secret.json["secret"], user={"id": "u", "username": "U", "badges": ["staff"]}))
    identity = "/api/v1/sites/{site_slug}/identity"
    answer_conforms(client, client.get(f"/api/v1/sites/{site.slug}/identity"), identity, "get")
    signed_in = client.get(f"/api/v1/sites/{site.slug}/identity", headers=token)
    assert signed_in.json["reader"]["badges"] == ["staff"]
    answer_conforms(client, signed_in, identity, "get")
    posted = client.post(api.thread_url(), json={"body": "signed in"}, headers=token)
    answer_conforms(client, posted, "/api/v1/sites/{site_slug}/threads/{key}/comments", "post")
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["securitySchemes"]["readerToken"]["scheme"] == "bearer"
    assert {"readerToken": []} in spec["paths"][identity]["get"]["security"]
    assert "204" in spec["paths"]["/api/v1/sites/{site_slug}/sso/logout"]["post"]["responses"]


def test_the_checker_refuses_an_answer_unlike_the_document(client):
    spec = client.get("/api/v1/openapi.json").json
    comment = {"$ref": "#/components/schemas/Comment"}
    conforms(spec, comment, {"id": 1, "body": None}, "ok")
    with pytest.raises(AssertionError):
        conforms(spec, comment, {"id": 1, "reactions": {}}, "undeclared")
    with pytest.raises(AssertionError):
        conforms(spec, comment, {"id": "1"}, "wrong type")
    with pytest.raises(AssertionError):
        conforms(spec, comment, {"created_at": None}, "null where none is allowed")


def test_every_field_of_the_comment_schema_is_in_the_document(client):
    described = client.get("/api/v1/openapi.json").json["components"]["schemas"]["Comment"]["properties"]
    assert set(described) == set(CommentSchema().fields)
    assert isinstance(CommentSchema().fields["created_at"], ma.fields.DateTime)
