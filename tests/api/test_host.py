"""The host-site API: keys, threads, exports and settings, with the site's API key."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

from comments.models import ApiKey, AuditEvent
from comments.services.sites import create_site
from tests.helpers import set_settings


@pytest.fixture()
def host(site):
    return {"Authorization": f"Bearer {site.test_api_key}"}


@pytest.fixture()
def other_site(db):
    other, key = create_site("other", ["https://other.example"])
    db.session.commit()
    other.test_api_key = key
    return other


def _url(path: str, site: str = "news") -> str:
    return f"/api/v1/sites/{site}{path}"


# --- authentication ---------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/threads"),
    ("get", "/threads/a"),
    ("put", "/threads/a"),
    ("get", "/comments"),
    ("get", "/comments/export"),
    ("get", "/settings"),
    ("patch", "/settings"),
    ("get", "/keys"),
    ("post", "/keys"),
    ("delete", "/keys/1"),
    ("get", "/webhooks"),
    ("post", "/webhooks"),
    ("get", "/webhooks/1"),
    ("patch", "/webhooks/1"),
    ("delete", "/webhooks/1"),
    ("get", "/webhooks/1/deliveries"),
    ("post", "/webhooks/1/ping"),
    ("post", "/webhooks/1/secret"),
    ("post", "/webhooks/1/deliveries/1/retry"),
    ("post", "/privacy/export"),
    ("post", "/privacy/erase"),
    ("delete", "/analysis-feedback"),
]


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_every_endpoint_needs_the_sites_own_key(client, db, site, method, path):
    send = getattr(client, method)
    body = {} if method in ("post", "put", "patch") else None
    response = send(_url(path), json=body)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "api_key_missing"
    bad = send(_url(path), json=body, headers={"Authorization": "Bearer cmk_not-a-real-key"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "api_key_invalid"
    not_bearer = send(_url(path), json=body, headers={"Authorization": f"Basic {site.test_api_key}"})
    assert not_bearer.status_code == 401
    other, key = create_site("elsewhere", [])
    db.session.commit()
    foreign = send(_url(path), json=body, headers={"Authorization": f"Bearer {key}"})
    assert foreign.status_code == 403 and foreign.json["error"]["code"] == "site_not_allowed"


def test_another_sites_key_is_refused(client, site, other_site):
    other = {"Authorization": f"Bearer {other_site.test_api_key}"}
    for method, path in [
        ("get", "/threads"),
        ("put", "/threads/a"),
        ("get", "/comments"),
        ("get", "/settings"),
        ("patch", "/settings"),
    ]:
        response = getattr(client, method)(_url(path), headers=other, json={} if method != "get" else None)
        assert response.status_code == 403, (method, path)
        assert response.json["error"]["code"] == "site_not_allowed"
    # and its own site works with it
    assert client.get(_url("/threads", "other"), headers=other).status_code == 200


def test_unknown_site_is_403_not_a_hint(client, host):
    assert client.get(_url("/threads", "nope"), headers=host).status_code == 403


def test_a_moderate_only_key_cannot_use_the_host_api(client, db, site, host):
    created = client.post(_url("/keys"), headers=host, json={"label": "mods", "scopes": ["moderate"]})
    assert created.status_code == 201
    mod_only = {"Authorization": f"Bearer {created.json['api_key']}"}
    response = client.get(_url("/threads"), headers=mod_only)
    assert response.status_code == 403 and response.json["error"]["code"] == "scope_missing"


def test_failed_key_attempts_are_rate_limited_per_ip(app, client, site, host):
    app.config["RATELIMIT_API_KEY_FAILURES"] = "3 per minute"
    try:
        bad = {"Authorization": "Bearer cmk_guess"}
        codes = [client.get(_url("/threads"), headers=bad).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        blocked = client.get(_url("/threads"), headers=host)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
        # another address is not affected
        other_ip = client.get(_url("/threads"), headers=host, environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert other_ip.status_code == 200
    finally:
        app.config["RATELIMIT_API_KEY_FAILURES"] = "10 per minute;100 per hour"


# --- keys -------------------------------------------------------------------------------------


def test_keys_rotate_without_downtime(client, db, site, host):
    page = client.get(_url("/keys"), headers=host).json
    assert page["next_cursor"] is None
    listed = page["keys"]
    assert len(listed) == 1 and listed[0]["scopes"] == ["host"]
    assert site.test_api_key.startswith(listed[0]["prefix"])
    assert "key_hash" not in listed[0] and site.test_api_key not in json.dumps(listed)

    created = client.post(_url("/keys"), headers=host, json={"label": "2026 rotation"})
    assert created.status_code == 201
    new_key = created.json["api_key"]
    stored = db.session.get(ApiKey, created.json["key"]["id"])
    assert new_key not in stored.key_hash and new_key.startswith(stored.prefix)
    new = {"Authorization": f"Bearer {new_key}"}
    # both work while the host rolls the new one out
    assert client.get(_url("/threads"), headers=host).status_code == 200
    assert client.get(_url("/threads"), headers=new).status_code == 200
    # then the old one is revoked, with the new one
    old_id = listed[0]["id"]
    assert client.delete(_url(f"/keys/{old_id}"), headers=new).status_code == 204
    assert client.get(_url("/threads"), headers=host).status_code == 401
    assert client.get(_url("/threads"), headers=new).status_code == 200
    actions = {e.action for e in db.session.query(AuditEvent).all()}
    assert {"api_key_created", "api_key_revoked"} <= actions


def test_the_last_host_key_cannot_be_revoked(client, site, host):
    key_id = client.get(_url("/keys"), headers=host).json["keys"][0]["id"]
    response = client.delete(_url(f"/keys/{key_id}"), headers=host)
    assert response.status_code == 409 and response.json["error"]["code"] == "last_host_key"


def test_key_requests_are_validated(client, site, other_site, host):
    assert client.post(_url("/keys"), headers=host, json={"scopes": ["admin"]}).status_code == 422
    assert client.post(_url("/keys"), headers=host, json={"scopes": []}).status_code == 422
    assert client.post(_url("/keys"), headers=host, json={"nope": 1}).status_code == 422
    other_key_id = other_site.api_keys[0].id
    assert client.delete(_url(f"/keys/{other_key_id}"), headers=host).status_code == 404
    assert client.delete(_url("/keys/999999"), headers=host).status_code == 404


# --- threads ----------------------------------------------------------------------------------


def test_put_creates_then_updates_a_thread(client, db, site, host):
    key = "politics/2026/budget"
    url = _url(f"/threads/{quote(key, safe='')}")
    created = client.put(url, headers=host, json={"title": "The budget", "url": "https://news.example/b"})
    assert created.status_code == 201
    assert created.json["thread"] == {
        "key": key,
        "title": "The budget",
        "url": "https://news.example/b",
        "closed": False,
        "comment_count": 0,
        "created_at": created.json["thread"]["created_at"],
        "counts": {"pending": 0, "published": 0, "held": 0, "rejected": 0, "deleted": 0},
    }
    updated = client.put(url, headers=host, json={"title": "The 2026 budget"})
    assert updated.status_code == 200
    assert updated.json["thread"]["title"] == "The 2026 budget"
    assert updated.json["thread"]["url"] == "https://news.example/b"  # left out: kept
    assert client.get(url, headers=host).json["thread"]["title"] == "The 2026 budget"
    event = db.session.query(AuditEvent).filter_by(action="thread_updated").one()
    assert event.actor_type == "host"
    assert event.reasons[0]["changes"]["title"] == {"before": "The budget", "after": "The 2026 budget"}


def test_closing_stops_new_comments_keeps_reading_and_changes_the_etag(client, db, api, site, host):
    api.post("Before closing")
    first = api.read()
    etag = first.headers["ETag"]
    closed = client.put(_url("/threads/article-1"), headers=host, json={"closed": True})
    assert closed.status_code == 200 and closed.json["thread"]["closed"] is True
    refused = api.post("After closing")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "thread_closed"
    again = client.get(api.thread_url(), headers={"If-None-Match": etag})
    assert again.status_code == 200  # the revision moved, so no stale 304
    assert again.json["thread"]["closed"] is True
    assert [c["body"] for c in again.json["comments"]] == ["Before closing"]
    client.put(_url("/threads/article-1"), headers=host, json={"closed": False})
    assert api.post("Reopened").status_code == 201


@pytest.mark.parametrize(
    "body", [{"title": "x" * 501}, {"url": "javascript:alert(1)"}, {"closed": "maybe"}, {"colour": "red"}, [1, 2]]
)
def test_bad_thread_bodies_are_422(client, site, host, body):
    response = client.put(_url("/threads/a"), headers=host, json=body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_failed"


def test_bad_json_and_bad_keys(client, site, host):
    response = client.put(_url("/threads/a"), headers={**host, "Content-Type": "application/json"}, data="{nope")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
    too_long = client.put(_url("/threads/" + "k" * 256), headers=host, json={"title": "x"})
    assert too_long.status_code == 422
    assert client.get(_url("/threads/missing"), headers=host).status_code == 404


def test_threads_are_listed_with_counts_and_paged(client, db, api, site, host):
    set_settings(site, suspect_words=["crypto"])
    api.post("one", key="a")
    api.post("two", key="a", author="Bo")
    api.post("crypto deal", key="b")
    client.put(_url("/threads/c"), headers=host, json={"closed": True})
    page = client.get(_url("/threads"), headers=host, query_string={"limit": 2}).json
    assert [t["key"] for t in page["threads"]] == ["c", "b"]
    assert page["threads"][1]["counts"]["held"] == 1
    rest = client.get(_url("/threads"), headers=host, query_string={"cursor": page["next_cursor"]}).json
    assert [t["key"] for t in rest["threads"]] == ["a"] and rest["next_cursor"] is None
    assert rest["threads"][0]["comment_count"] == 2
    closed = client.get(_url("/threads"), headers=host, query_string={"closed": "true"}).json
    assert [t["key"] for t in closed["threads"]] == ["c"]
    assert client.get(_url("/threads"), headers=host, query_string={"cursor": "garbage"}).status_code == 422
    assert client.get(_url("/threads"), headers=host, query_string={"limit": 0}).status_code == 422


# --- exports ----------------------------------------------------------------------------------


@pytest.fixture()
def mixed(api, site):
    set_settings(site, suspect_words=["crypto"], banned_words=["scam"])
    ids = {}
    ids["published"] = api.post("A fine comment", author="Ann").json["comment"]["id"]
    ids["held"] = api.post("crypto tips", author="Bo", ip="192.0.2.2").json["comment"]["id"]
    ids["rejected"] = api.post("a scam", author="Cy", ip="192.0.2.3").json["comment"]["id"]
    ids["reply"] = api.post("A reply", author="Di", parent_id=ids["published"], key="article-1", ip="192.0.2.4").json[
        "comment"
    ]["id"]
    return ids


def test_export_has_status_scores_and_reasons(client, site, host, mixed):
    page = client.get(_url("/comments"), headers=host).json
    by_id = {c["id"]: c for c in page["comments"]}
    assert list(by_id) == sorted(by_id)  # oldest first
    assert page["next_cursor"] is None
    held = by_id[mixed["held"]]
    assert held["status"] == "held" and held["thread_key"] == "article-1"
    assert held["reasons"][0]["code"] == "suspect_word"
    assert by_id[mixed["rejected"]]["reasons"][0]["code"] == "banned_word"
    assert by_id[mixed["reply"]]["parent_id"] == mixed["published"]
    assert set(held) >= {"scores", "max_score", "body", "body_html", "author_name", "created_at"}


def test_export_filters_and_pages(client, site, host, mixed):
    only = client.get(_url("/comments"), headers=host, query_string={"status": "held,rejected"}).json
    assert {c["id"] for c in only["comments"]} == {mixed["held"], mixed["rejected"]}
    first = client.get(_url("/comments"), headers=host, query_string={"limit": 3}).json
    assert len(first["comments"]) == 3 and first["next_cursor"]
    second = client.get(_url("/comments"), headers=host, query_string={"limit": 3, "cursor": first["next_cursor"]}).json
    assert [c["id"] for c in first["comments"] + second["comments"]] == sorted(mixed.values())
    since = first["comments"][0]["created_at"]
    assert len(client.get(_url("/comments"), headers=host, query_string={"since": since}).json["comments"]) == 4
    future = client.get(_url("/comments"), headers=host, query_string={"since": "2999-01-01T00:00:00Z"}).json
    assert future["comments"] == []
    until = client.get(_url("/comments"), headers=host, query_string={"until": "2000-01-01T00:00:00Z"}).json
    assert until["comments"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nope"},
        {"status": "held,bogus"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"limit": 501},
        {"cursor": "x"},
        {"whatever": 1},
    ],
)
def test_export_refuses_bad_filters(client, site, host, params):
    response = client.get(_url("/comments"), headers=host, query_string=params)
    assert response.status_code == 422, params


def test_ndjson_export_streams_everything(app, client, site, host, mixed):
    app.config["EXPORT_BATCH_SIZE"] = 2  # several batches, so the keyset paging is exercised
    try:
        response = client.get(_url("/comments/export"), headers=host)
    finally:
        app.config.pop("EXPORT_BATCH_SIZE")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.is_streamed
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [c["id"] for c in lines] == sorted(mixed.values())
    page = client.get(_url("/comments"), headers=host).json["comments"]
    assert lines == page  # the same shape as the JSON export
    held_only = client.get(_url("/comments/export"), headers=host, query_string={"status": "held"})
    assert [json.loads(line)["id"] for line in held_only.get_data(as_text=True).splitlines()] == [mixed["held"]]
    assert client.get(_url("/comments/export"), headers=host, query_string={"cursor": "bad"}).status_code == 422


def test_export_is_only_the_sites_own(client, db, site, host, other_site, mixed):
    from comments.services.submission import NewComment, submit

    submit(other_site, "x", NewComment(body="elsewhere", author_name="Eve"))
    ids = {c["id"] for c in client.get(_url("/comments"), headers=host).json["comments"]}
    assert ids == set(mixed.values())


# --- settings ---------------------------------------------------------------------------------


def test_settings_read_and_change(client, db, site, host):
    settings = client.get(_url("/settings"), headers=host).json["settings"]
    assert settings["thresholds"]["toxicity"] == 0.7
    assert settings["premoderation"] == "none"
    assert settings["allowed_origins"] == ["http://localhost:9000", "https://news.example"]
    changed = client.patch(
        _url("/settings"),
        headers=host,
        json={
            "thresholds": {"insult": 0.5},
            "premoderation": "first-comment",
            "banned_words": ["Spam"],
            "edit_window_seconds": 600,
            "failure_policy": "publish",
            "shadow_mode": True,
            "reject_thresholds": {"threat": 0.95},
            "allowed_origins": ["https://www.news.example"],
        },
    )
    assert changed.status_code == 200, changed.json
    after = changed.json["settings"]
    assert after["thresholds"]["insult"] == 0.5 and after["thresholds"]["toxicity"] == 0.7
    assert after["banned_words"] == ["spam"] and after["allowed_origins"] == ["https://www.news.example"]
    removed = client.patch(_url("/settings"), headers=host, json={"reject_thresholds": {"threat": None}})
    assert removed.json["settings"]["reject_thresholds"] == {}
    events = db.session.query(AuditEvent).filter(AuditEvent.action.in_(["settings_changed", "origins_changed"])).all()
    assert {e.actor_type for e in events} == {"host"} and len(events) == 3


@pytest.mark.parametrize(
    "body, field",
    [
        ({"thresholds": {"toxicity": 1.5}}, "thresholds"),
        ({"thresholds": {"nonsense": 0.5}}, "thresholds"),
        ({"premoderation": "sometimes"}, "premoderation"),
        ({"edit_window_seconds": -1}, "edit_window_seconds"),
        ({"failure_policy": "panic"}, "failure_policy"),
        ({"shadow_mode": "perhaps"}, "shadow_mode"),
        ({"banned_words": "spam"}, "banned_words"),
        ({"allowed_origins": ["ftp://x.example"]}, "allowed_origins"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_malformed_settings_are_422_and_change_nothing(client, db, site, host, body, field):
    before = client.get(_url("/settings"), headers=host).json
    response = client.patch(_url("/settings"), headers=host, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert client.get(_url("/settings"), headers=host).json == before
    assert db.session.query(AuditEvent).filter_by(action="settings_changed").count() == 0


def test_openapi_documents_the_host_api(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["securitySchemes"]["siteApiKey"]["scheme"] == "bearer"
    paths = spec["paths"]
    for path in [
        "/api/v1/sites/{site_slug}/threads/{key}",
        "/api/v1/sites/{site_slug}/comments",
        "/api/v1/sites/{site_slug}/comments/export",
        "/api/v1/sites/{site_slug}/settings",
        "/api/v1/sites/{site_slug}/keys",
        "/api/v1/sites/{site_slug}/threads",
    ]:
        assert path in paths, path
    assert "put" in paths["/api/v1/sites/{site_slug}/threads/{key}"]
    assert "patch" in paths["/api/v1/sites/{site_slug}/settings"]
    assert paths["/api/v1/sites/{site_slug}/settings"]["patch"]["security"] == [{"siteApiKey": []}]


def test_changed_since_exports_what_changed_in_the_order_it_changed(client, db, api, site, host, moderator):
    from comments.services.review import decisions

    set_settings(site, premoderation="all")
    first = api.post("first").json["comment"]["id"]
    second = api.post("second", author="Bo", ip="192.0.2.2").json["comment"]["id"]
    third = api.post("third", author="Cy", ip="192.0.2.3").json["comment"]["id"]
    everything = client.get(_url("/comments"), headers=host).json["comments"]
    mark = max(c["updated_at"] for c in everything)
    time.sleep(0.01)
    decisions.decide(moderator, first, "approve")
    decisions.decide(moderator, third, "reject")
    changed = client.get(_url("/comments"), headers=host, query_string={"changed_since": mark}).json
    ids = [c["id"] for c in changed["comments"] if c["updated_at"] > mark]
    assert ids == [first, third]  # in the order they changed
    assert second not in ids
    page = client.get(_url("/comments"), headers=host, query_string={"changed_since": mark, "limit": 1}).json
    rest = client.get(
        _url("/comments"),
        headers=host,
        query_string={"changed_since": mark, "limit": 10, "cursor": page["next_cursor"]},
    ).json
    assert [c["id"] for c in page["comments"] + rest["comments"]] == [c["id"] for c in changed["comments"]]
    # a cursor of one order is refused by the other
    created_order = client.get(_url("/comments"), headers=host, query_string={"limit": 1}).json["next_cursor"]
    assert (
        client.get(
            _url("/comments"), headers=host, query_string={"changed_since": mark, "cursor": created_order}
        ).status_code
        == 422
    )
    stream = client.get(_url("/comments/export"), headers=host, query_string={"changed_since": mark})
    assert [json.loads(line)["id"] for line in stream.get_data(as_text=True).splitlines()] == [
        c["id"] for c in changed["comments"]
    ]


# --- suggested scores (comments:suggestscore) -------------------------------------------------------


def test_a_host_deletes_its_sites_suggested_scores(client, db, site, other_site, host):
    from comments.models import AnalysisFeedback, AuditEvent
    from comments.services.apikeys import issue_key

    def suggest(key: str, token: str, community: str) -> None:
        body = {
            "comment": {"text": "a rejected comment"},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "clientToken": token,
            "communityId": community,
        }
        assert client.post(f"/v1alpha1/comments:suggestscore?key={key}", json=body).status_code == 200

    _, ours = issue_key(site, "coral", ["analyze"])
    _, theirs = issue_key(other_site, "coral", ["analyze"])
    db.session.commit()
    for token, community in (("c1", "Coral:a"), ("c2", "Coral:a"), ("c3", "Coral:b")):
        suggest(ours, token, community)
    suggest(theirs, "c1", "Coral:a")
    by_token = client.delete(_url("/analysis-feedback?client_token=c1"), headers=host)
    assert by_token.status_code == 200 and by_token.json == {"removed": 1}
    assert client.delete(_url("/analysis-feedback?community_id=Coral:a"), headers=host).json == {"removed": 1}
    assert client.delete(_url("/analysis-feedback"), headers=host).json == {"removed": 1}
    assert client.delete(_url("/analysis-feedback"), headers=host).json == {"removed": 0}
    assert [row.site_id for row in db.session.query(AnalysisFeedback)] == [other_site.id]
    assert db.session.query(AuditEvent).filter_by(action="analysis_feedback_deleted", actor_type="host").count() == 4


@pytest.mark.parametrize(
    "query",
    ["?clientToken=c1", "?client_token=", "?community_id=" + "x" * 501, "?client_token=%00", "?community_id=a%00"],
)
def test_a_feedback_delete_with_a_bad_filter_deletes_nothing(client, db, site, host, query):
    from comments.models import AnalysisFeedback
    from comments.services.analysis import record_feedback
    from comments.services.apikeys import issue_key

    key, _ = issue_key(site, "coral", ["analyze"])
    record_feedback(key, {"comment": {"text": "t"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}})
    db.session.commit()
    response = client.delete(_url(f"/analysis-feedback{query}"), headers=host)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_failed"
    assert db.session.query(AnalysisFeedback).count() == 1
