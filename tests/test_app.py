"""The factory, configuration, migrations and operations endpoints."""

from __future__ import annotations

import sys
import warnings

import pytest
from flask_migrate import upgrade
from sqlalchemy import inspect

from comments import create_app
from comments.config import from_environment
from comments.extensions import db


def test_configuration_comes_from_prefixed_environment():
    found = from_environment(
        {
            "COMMENTS_TRUSTED_PROXY_COUNT": "2",
            "COMMENTS_RATELIMIT_ENABLED": "false",
            "OTHER": "x",
            "COMMENTS_CLASSIFIER_DEVICE": "cpu",
        }
    )
    assert found == {"TRUSTED_PROXY_COUNT": 2, "RATELIMIT_ENABLED": False, "CLASSIFIER_DEVICE": "cpu"}


def test_defaults_to_sqlite_in_the_instance_folder_with_a_kept_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMENTS_DATABASE_URL", raising=False)
    monkeypatch.delenv("COMMENTS_SECRET_KEY", raising=False)
    app = create_app({"TESTING": True})
    app2 = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/comments.db")
    assert app.config["SECRET_KEY"] == app2.config["SECRET_KEY"]  # survives restarts


def test_postgres_urls_use_psycopg3():
    app = create_app({"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test", "SECRET_KEY": "x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_migrations_build_every_table_from_empty(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        # The models and the migrations agree: autogenerate finds nothing left to do.
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with db.engine.connect() as conn, warnings.catch_warnings():
            # SQLite's reflection cannot read expression indexes (the review queue's score
            # indexes, on coalesce(max_score, -1.0)): alembic leaves them out on both sides.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"]["database"] == "ok"


def test_readyz_reports_an_unreachable_redis_as_degraded(tmp_path):
    """Redis only carries hints: the process still serves, so 200, saying what is degraded."""
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
            "SECRET_KEY": "x",
            "SCORING_MODE": "off",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["degraded"] == ["redis"]
    assert response.json["checks"]["redis"] == "down (ConnectionError)"


def test_readyz_is_503_while_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'r.db'}",
            "SECRET_KEY": "x",
            "SCORING_MODE": "off",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not_ready"
    assert response.json["checks"]["database"].startswith("database:")
    assert response.headers["Retry-After"]


def test_openapi_document_describes_the_public_api(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert "/api/v1/sites/{site_slug}/threads/{key}/comments" in paths
    assert {"get", "post"} <= set(paths["/api/v1/sites/{site_slug}/threads/{key}/comments"])
    assert "/api/v1/comments/{comment_id}/reports" in paths
    assert "/api/v1/sites/{site_slug}/counts" in paths
    assert "Error" in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("settings", "package", "extra"),
    [
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"}, "psycopg", "postgres"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "redis", "redis"),
        ({"SCORING_MODE": "rq", "REDIS_URL": "redis://127.0.0.1:6379/0"}, "rq", "rq"),
    ],
)
def test_a_missing_optional_package_is_named_with_its_extra_at_start_up(monkeypatch, settings, package, extra):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    with pytest.raises(RuntimeError, match=rf"needs the {package} package.*comments\[{extra}\]"):
        create_app({"SECRET_KEY": "x", **settings})


def test_a_worker_without_rq_installed_names_the_extra(app, monkeypatch):
    monkeypatch.setitem(sys.modules, "rq", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "comments.tasks.rq", raising=False)
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    result = app.test_cli_runner().invoke(args=["comments", "worker", "--burst"])
    assert result.exit_code != 0
    assert "A worker needs the rq package: pip install 'comments[rq]'" in result.output
