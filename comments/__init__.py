"""A self-hosted, moderated comment service."""

from __future__ import annotations

import hashlib
import hmac
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, PathConverter

from comments import config as settings
from comments import redis_health, transaction
from comments.extensions import db, migrate
from comments.models import MAX_ID
from comments.services.parsing import INTEGER_PATTERN

MAX_REQUEST_BYTES = 64 * 1024
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class ThreadKeyConverter(PathConverter):
    """A host's article id: any characters, slashes included (sent percent-encoded)."""

    regex = ".+?"
    part_isolating = False  # werkzeug would otherwise match it within one path segment


class HostThreadKeyConverter(ThreadKeyConverter):
    """A thread key on the host API's thread resource. A key ending in "/comments" would make
    ``/threads/<key>/comments`` (the public thread) ambiguous, so such paths stay the public one's."""

    regex = ".+?(?<!/comments)"


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route is an id: past the 32-bit id columns it matches nothing (404),
    rather than reaching the database, which would refuse to compare it. Written in ASCII digits
    only: Werkzeug's ``\\d+`` would let "/comments/١" (an Arabic-Indic one) name comment 1 too."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
        self.regex = INTEGER_PATTERN


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(settings.defaults())
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    _derive_settings(app)

    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    app.url_map.converters["threadkey"] = ThreadKeyConverter
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["hostthreadkey"] = HostThreadKeyConverter
    # Thread keys may contain "//"; merging slashes would redirect instead of answering.
    app.url_map.merge_slashes = False

    # Imported here, not at the top: this module runs on any import of ``comments.x``, and a
    # worker or a command that needs only the models and services must not load the web layer
    # (the blueprints, flask-smorest, Flask-Limiter) with them.
    from comments import moderator_session
    from comments.api.cache import PageCache
    from comments.api.calibration import blp as calibration_blp
    from comments.api.errors import api
    from comments.api.host import blp as host_blp
    from comments.api.host import register_security_scheme
    from comments.api.moderation import blp as moderation_blp
    from comments.api.public import blp as public_blp
    from comments.api.signin import register_security_scheme as register_reader_scheme
    from comments.cli import comments_cli
    from comments.dashboard import bp as dashboard_bp
    from comments.encoding import refuse_undecodable_input
    from comments.limiting import limiter
    from comments.ops import bp as ops_bp
    from comments.perspective import bp as perspective_bp
    from comments.perspective import openapi as perspective_openapi
    from comments.tasks import init_scoring
    from comments.tasks.outbox import init_webhooks
    from comments.widget import bp as widget_bp

    app.extensions["comments.redis"] = redis_health.RedisHealth()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    limiter.init_app(app)
    api.init_app(app)
    for converter_class in (ThreadKeyConverter, HostThreadKeyConverter):
        api.register_converter(
            converter_class,
            lambda converter: {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "the host's article id, percent-encoded",
            },
        )
    api.register_converter(IdConverter, lambda converter: {"type": "integer", "minimum": 0, "maximum": converter.max})

    api.register_blueprint(public_blp)
    api.register_blueprint(moderation_blp)
    api.register_blueprint(calibration_blp)
    api.register_blueprint(host_blp)
    register_security_scheme(api)
    register_reader_scheme(api)
    app.register_blueprint(ops_bp)
    app.register_blueprint(widget_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(perspective_bp)
    perspective_openapi.register(api, app)
    moderator_session.init_app(app)
    transaction.init_app(
        app, blueprints=("public", "moderation", "calibration", "host", "dashboard", "widget", "perspective")
    )
    init_scoring(app)
    init_webhooks(app)
    if app.config["READ_CACHE_MB"] > 0:
        app.extensions["comments.page_cache"] = PageCache(app.config["READ_CACHE_MB"] * 1024 * 1024)

    @app.before_request
    def _forget_previous_request() -> None:
        # What views remember in ``g`` belongs to one request; an app context that outlives a
        # request (tests, CLI) must not carry it into the next.
        for key in (
            "site",
            "comment",
            "moderator",
            "cors_origin",
            "api_key",
            "session_moderator",
            "dashboard_moderator",
            "perspective_key",
        ):
            g.pop(key, None)

    app.before_request(refuse_undecodable_input)
    app.cli.add_command(comments_cli)
    return app


def _derive_settings(app: Flask) -> None:
    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'comments.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(cfg["DATABASE_URL"])
    is_sqlite = cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {} if is_sqlite else {"pool_pre_ping": True})
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = settings.instance_secret(app.instance_path)
    if not cfg.get("HASH_KEY"):
        cfg["HASH_KEY"] = hmac.new(cfg["SECRET_KEY"].encode(), b"comments.hash-key", hashlib.sha256).hexdigest()
    if not cfg.get("SSO_ENCRYPTION_KEY"):
        cfg["SSO_ENCRYPTION_KEY"] = hmac.new(
            cfg["SECRET_KEY"].encode(), b"comments.sso-key", hashlib.sha256
        ).hexdigest()
    cfg["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("RATELIMIT_STORAGE_URI") or cfg["REDIS_URL"] or "memory://"
    # Redis only carries hints: when it fails, limits count in this process's memory (the
    # fallback) rather than failing the request; a request caught mid-switch goes unlimited
    # (swallow) rather than answering 500. Short timeouts: a hung Redis must not hang requests.
    cfg.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    cfg.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if cfg["RATELIMIT_STORAGE_URI"].startswith("redis"):
        cfg["RATELIMIT_STORAGE_OPTIONS"] = {**redis_health.CLIENT_OPTIONS, **cfg.get("RATELIMIT_STORAGE_OPTIONS", {})}
    # Off: Flask-Limiter would send Retry-After on every answer; 429s get their own (api.errors).
    cfg["RATELIMIT_HEADERS_ENABLED"] = False
    cfg["RATELIMIT_KEY_PREFIX"] = "comments"
    cfg["API_TITLE"] = "Comments"
    cfg["API_VERSION"] = "v1"
    cfg["OPENAPI_VERSION"] = "3.1.0"
    cfg["OPENAPI_URL_PREFIX"] = "/api/v1"
    cfg["OPENAPI_JSON_PATH"] = "openapi.json"
    _check_optional_dependencies(cfg)


def _check_optional_dependencies(cfg: Any) -> None:
    """Each optional dependency (an extra in pyproject.toml) the settings call for is installed:
    one clear message at start-up, not an ImportError in the first request or job that needs it."""
    wanted = {
        "psycopg": (
            "postgres",
            "a PostgreSQL COMMENTS_DATABASE_URL",
            cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"),
        ),
        "redis": ("redis", "COMMENTS_REDIS_URL", cfg["RATELIMIT_STORAGE_URI"].startswith("redis")),
        "rq": ("rq", "COMMENTS_SCORING_MODE=rq", cfg.get("SCORING_MODE") == "rq"),
    }
    for module, (extra, setting, needed) in wanted.items():
        if needed and find_spec(module) is None:
            raise RuntimeError(
                f"{setting} needs the {module} package, which is not installed: pip install 'comments[{extra}]'"
            )


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the driver installed; plain postgresql:// URLs would ask for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets readers go on while a worker writes; busy_timeout waits instead of failing.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
