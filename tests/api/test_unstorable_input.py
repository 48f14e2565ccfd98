"""Input no database or encoder can take, in any field of any API: refused with a 4xx, never a 500.

NUL is refused by PostgreSQL's text type and lone surrogates by every UTF-8 encoder, so such a
string must be stopped where it comes in, not where it is stored or rendered.
"""

from __future__ import annotations

import pytest

NUL = "a\u0000b"
SURROGATE = "a\ud800b"


@pytest.fixture()
def host(site):
    return {"Authorization": f"Bearer {site.test_api_key}"}


@pytest.mark.parametrize("text", [NUL, SURROGATE])
def test_titles_urls_and_labels(api, client, host, text):
    post = api.post("fine", thread_title=text)
    assert post.status_code == 422 and "thread_title" in post.json["error"]["fields"]
    thread = client.put("/api/v1/sites/news/threads/a1", headers=host, json={"title": text, "url": None})
    assert thread.status_code == 422
    key = client.post("/api/v1/sites/news/keys", headers=host, json={"label": text, "scopes": ["host"]})
    assert key.status_code == 422


@pytest.mark.parametrize("text", [NUL, SURROGATE])
def test_login_and_decision_reasons(api, client, moderator, text):
    assert client.post("/api/v1/auth/token", json={"email": text, "password": text}).status_code == 422
    token = client.post(
        "/api/v1/auth/token", json={"email": "mod@news.example", "password": "correct horse battery"}
    ).json["token"]
    comment_id = api.post("to decide").json["comment"]["id"]
    decision = client.post(
        f"/api/v1/moderation/comments/{comment_id}/decision",
        json={"action": "reject", "reason": text},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert decision.status_code == 422
    assert decision.json["error"]["fields"].keys() == {"reason"}


def test_a_nul_in_the_dashboard_login_is_a_wrong_password(client, moderator):
    from comments.services import accounts
    from comments.services.accounts import Unauthorized

    with pytest.raises(Unauthorized):
        accounts.login(NUL, "correct horse battery")


def test_settings_refuse_such_strings_and_fractions(client, host):
    for change in (
        {"banned_words": [NUL]},
        {"allowed_origins": ["https://x\u0000.example"]},
        {"max_depth": 4.7},
        {"edit_window_seconds": 600.9},
        {"report_threshold": "3"},
    ):
        response = client.patch("/api/v1/sites/news/settings", headers=host, json=change)
        assert response.status_code == 422, change
    assert client.get("/api/v1/sites/news/settings", headers=host).json["settings"]["max_depth"] == 6


def test_a_slug_with_nul_is_an_unknown_site(client):
    assert client.get("/api/v1/sites/a%00b/counts?keys=a").status_code == 404
    assert (
        client.post("/api/v1/sites/a%00b/threads/k/comments", json={"body": "x", "author_name": "A"}).status_code == 404
    )


def test_json_nested_thousands_deep_is_bad_json(api, client):
    body = '{"a":' * 3000 + "1" + "}" * 3000
    response = client.post(api.thread_url(), data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"
