"""CORS limited to each site's origins; rate limits per site and client IP; trusted proxies."""

from __future__ import annotations

import pytest

from comments import create_app
from comments.limiting import limiter
from tests.helpers import ORIGIN, TEST_DATABASE_URL


def test_allowed_origin_gets_cors_headers(api):
    response = api.client.get(api.thread_url(), headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers["Vary"]


def test_errors_carry_cors_headers_so_the_widget_can_read_them(api):
    response = api.client.post(api.thread_url(), json={"body": ""}, headers={"Origin": ORIGIN})
    assert response.status_code == 422
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_other_origins_are_refused(api, db):
    from comments.models import Comment

    response = api.client.post(
        api.thread_url(), json={"body": "hi", "author_name": "A"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert db.session.query(Comment).count() == 0
    assert api.client.get(api.thread_url(), headers={"Origin": "null"}).status_code == 403


def test_origins_are_per_site(api, db):
    from comments.services.sites import create_site

    create_site("other", ["https://other.example"])
    db.session.commit()
    response = api.client.get("/api/v1/sites/other/threads/a/comments", headers={"Origin": ORIGIN})
    assert response.status_code == 403


def test_comment_routes_check_the_comments_site(api):
    comment_id = api.post().json["comment"]["id"]
    assert api.client.get(f"/api/v1/comments/{comment_id}", headers={"Origin": ORIGIN}).status_code == 200
    refused = api.client.get(f"/api/v1/comments/{comment_id}", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403


def test_preflight(api):
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type, x-edit-token",
    }
    response = api.client.options(api.thread_url(), headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "X-Edit-Token" in response.headers["Access-Control-Allow-Headers"]
    refused = api.client.options(api.thread_url(), headers={**headers, "Origin": "https://evil.example"})
    assert refused.status_code == 403


def test_requests_without_origin_pass(api):
    assert api.client.get(api.thread_url()).status_code == 200


@pytest.fixture()
def limited_app(tmp_path):
    """An app with tight limits; rate limits live in the limiter's storage, reset around it."""
    from flask_migrate import upgrade

    from tests.helpers import TEST_REDIS_URL

    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'limits.db'}"
    application = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "x",
            "TESTING": True,
            "RATELIMIT_POST": "3 per minute",
            "RATELIMIT_READ": "5 per minute",
            "RATELIMIT_REPORT": "2 per minute",
            "REDIS_URL": TEST_REDIS_URL,
            "SCORING_MODE": "off",
        }
    )
    with application.app_context():
        upgrade()
        limiter.reset()
    yield application
    with application.app_context():
        limiter.reset()
        from comments.extensions import db as database

        database.engine.dispose()  # close its pooled connections now, not at garbage collection


def test_posting_is_rate_limited_per_site_and_ip_with_retry_after(limited_app, db):
    from comments.services.sites import create_site

    with limited_app.app_context():
        create_site("news", [ORIGIN])
        create_site("other", [])
        from comments.extensions import db as database

        database.session.commit()
    client = limited_app.test_client()

    def post(site, ip, n):
        return client.post(
            f"/api/v1/sites/{site}/threads/a/comments",
            json={"body": f"comment {n}", "author_name": "A"},
            environ_base={"REMOTE_ADDR": ip},
        )

    assert [post("news", "192.0.2.1", n).status_code for n in range(3)] == [201, 201, 201]
    limited = post("news", "192.0.2.1", 4)
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another client, and the same client on another site, have their own budgets.
    assert post("news", "192.0.2.2", 5).status_code == 201
    assert post("other", "192.0.2.1", 6).status_code == 201


def test_reads_are_rate_limited(limited_app, db):
    client = limited_app.test_client()
    statuses = [client.get("/api/v1/sites/x/threads/a/comments").status_code for _ in range(6)]
    assert statuses == [404] * 5 + [429]


def test_x_forwarded_for_is_ignored_without_trusted_proxies(limited_app, db):
    client = limited_app.test_client()
    for n in range(5):
        client.get("/api/v1/sites/x/threads/a/comments", headers={"X-Forwarded-For": f"10.0.0.{n}"})
    assert client.get("/api/v1/sites/x/threads/a/comments", headers={"X-Forwarded-For": "10.0.0.99"}).status_code == 429


def test_trusted_proxy_count_takes_the_client_ip_from_x_forwarded_for(tmp_path):
    from comments.limiting import client_ip

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
            "SECRET_KEY": "x",
            "SCORING_MODE": "off",
            "TRUSTED_PROXY_COUNT": 1,
        }
    )
    seen = []
    app.add_url_rule("/probe-ip", "probe", lambda: seen.append(client_ip()) or "ok")
    client = app.test_client()
    client.get(
        "/probe-ip", headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    # One trusted proxy: the address it saw (the last one it appended) is the client.
    assert seen == ["198.51.100.7"]
