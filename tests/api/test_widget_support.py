"""What the public API adds for the widget: Markdown previews and the author's edit deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

from comments.models import Comment
from tests.helpers import ORIGIN, set_settings

PREVIEW = "/api/v1/sites/news/preview"


def test_preview_is_the_html_a_post_would_store(api, db):
    text = "Hello *world*, see https://example.org\n\n> quoted <script>alert(1)</script>"
    preview = api.client.post(PREVIEW, json={"body": text}, headers={"Origin": ORIGIN})
    assert preview.status_code == 200
    assert preview.headers["Access-Control-Allow-Origin"] == ORIGIN
    stored = api.post(text).json["comment"]["body_html"]
    assert preview.json == {"body_html": stored}
    assert "<script" not in stored and "<em>world</em>" in stored


def test_preview_stores_nothing(api, db):
    assert api.client.post(PREVIEW, json={"body": "just looking"}).status_code == 200
    assert db.session.query(Comment).count() == 0


def test_preview_validates_like_a_post(api):
    for body in ("", "   ", "x" * 10_001, "bad \x00 char"):
        response = api.client.post(PREVIEW, json={"body": body})
        assert response.status_code == 422, body
        assert "body" in response.json["error"]["fields"]
    assert api.client.post(PREVIEW, json={"body": "hi", "extra": 1}).status_code == 422
    assert api.client.post(PREVIEW, data="{", content_type="application/json").status_code == 400
    assert api.client.post("/api/v1/sites/nope/preview", json={"body": "hi"}).status_code == 404


def test_preview_refuses_other_origins(api):
    response = api.client.post(PREVIEW, json={"body": "hi"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "origin_not_allowed"


def test_preview_is_rate_limited_apart_from_posting(app, api):
    app.config["RATELIMIT_PREVIEW"] = "2 per minute"
    try:
        codes = [api.client.post(PREVIEW, json={"body": f"try {i}"}).status_code for i in range(3)]
        assert codes == [200, 200, 429]
        limited = api.client.post(PREVIEW, json={"body": "again"}, headers={"Origin": ORIGIN})
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.headers["Access-Control-Allow-Origin"] == ORIGIN  # the widget can read the wait
        assert api.post("posting still works").status_code == 201
    finally:
        app.config["RATELIMIT_PREVIEW"] = "1000 per minute"


def test_preview_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/sites/{site_slug}/preview"]["post"]
    assert "200" in operation["responses"] and "422" in operation["responses"]
    comment = spec["components"]["schemas"]["Comment"]["properties"]
    assert "editable_until" in comment


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_author_learns_when_the_edit_window_closes(api, site):
    set_settings(site, edit_window_seconds=600)
    posted = api.post().json
    comment = posted["comment"]
    until = _parse(comment["editable_until"]) - _parse(comment["created_at"])
    assert until == timedelta(seconds=600)
    own = api.client.get(f"/api/v1/comments/{comment['id']}", headers={"X-Edit-Token": posted["edit_token"]})
    assert own.json["comment"]["editable_until"] == comment["editable_until"]
    public = api.client.get(f"/api/v1/comments/{comment['id']}").json["comment"]
    assert "editable_until" not in public
    assert all("editable_until" not in c for c in api.read().json["comments"])
