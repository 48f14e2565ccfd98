"""Configuration read from environment variables with the ``COMMENTS_`` prefix.

Every setting has a default that runs the embedded mode: SQLite in the instance folder, an
in-process worker, in-memory rate limits, no Redis. ``COMMENTS_DATABASE_URL`` and
``COMMENTS_REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PREFIX = "COMMENTS_"

# name -> (default, parser, help). The README's configuration table is written from this list.
SETTINGS: dict[str, tuple[Any, Any, str]] = {
    "DATABASE_URL": (None, str, "SQLAlchemy URL; default `sqlite:///<instance>/comments.db`"),
    "SECRET_KEY": (None, str, "signs edit tokens and sessions; default: generated once into the instance folder"),
    "HASH_KEY": (None, str, "key for hashing IPs and emails; default: derived from the secret key"),
    "REDIS_URL": (None, str, "Redis for rate limits and RQ workers; unset = in-memory / in-process"),
    "TRUSTED_PROXY_COUNT": (0, int, "number of reverse proxies whose `X-Forwarded-For` is trusted"),
    "RATELIMIT_POST": ("5 per minute;60 per hour", str, "comment posts/edits per site and client IP"),
    "RATELIMIT_REPORT": ("10 per minute;100 per day", str, "reader reports per site and client IP"),
    "RATELIMIT_READ": ("300 per minute", str, "thread reads and counts per site and client IP"),
    "RATELIMIT_PREVIEW": ("30 per minute;300 per hour", str, "Markdown previews per site and client IP"),
    "RATELIMIT_ENABLED": (True, "bool", "turn rate limiting off (tests, benchmarks)"),
    "EDIT_TOKEN_MAX_AGE": (7 * 24 * 3600, int, "seconds an edit token lets its author read and delete"),
    "MAX_PAGE_SIZE": (200, int, "largest `limit` accepted on list endpoints"),
    "DEFAULT_PAGE_SIZE": (50, int, "page size when `limit` is not given"),
    "PUBLIC_URL": ("http://127.0.0.1:8000", str, "where the service is reached; used in printed links"),
    "DEMO_PAGE": (False, "bool", "serve the demo news page at `/demo/` (on with `./manage serve`)"),
    "READ_CACHE_MB": (64, int, "memory per process for rendered thread pages (0 turns the cache off)"),
    "RATELIMIT_LOGIN": ("10 per minute", str, "moderator logins per client IP"),
    "MODERATOR_TOKEN_HOURS": (12, int, "lifetime of a moderator's bearer token"),
    "SCORING_MODE": ("inprocess", str, "`inprocess` (worker thread in each web process), `rq` (workers apart, needs Redis) or `off`"),
    # Every batch costs a few statements, a commit and a forward pass whatever its size: under a
    # stream of posts, 48 instead of 16 cut the scoring CPU per comment by ~25% (bench/README.md).
    "SCORING_BATCH_SIZE": (48, int, "comments per scoring batch (one transaction, as few forward passes as pay)"),
    "SCORING_LINGER_MS": (20, int, "how long the in-process worker waits for one more comment to join a batch "
                          "(again while more keep coming)"),
    "SCORING_MAX_LINGER_MS": (200, int, "the longest the in-process worker waits for a batch to fill while "
                              "comments keep coming"),
    "SCORING_SWEEP_SECONDS": (15, int, "how often workers look for comments whose job was lost"),
    "SCORING_GRACE_SECONDS": (20, int, "how long a pending comment may wait before a sweep takes it"),
    "RATELIMIT_API_KEY_FAILURES": ("10 per minute;100 per hour", str, "failed host API key attempts per client IP before 429"),
    "WEBHOOK_DELIVERY": ("inprocess", str, "`inprocess` (a delivery thread in each web process) or `worker` (only `flask comments worker` delivers)"),
    "WEBHOOK_ALLOW_PRIVATE": (False, "bool", "let webhooks reach loopback, private and link-local addresses (local testing only)"),
    "WEBHOOK_MAX_ATTEMPTS": (8, int, "attempts before a webhook delivery is given up"),
    "WEBHOOK_RETRY_BASE_SECONDS": (30, int, "first retry delay; doubled on every failure (with jitter), at most 6 hours"),
    "WEBHOOK_TIMEOUT_SECONDS": (10, int, "connect and read timeout of one delivery attempt"),
    "WEBHOOK_POLL_SECONDS": (2, float, "how often delivery threads look at the outbox"),
    "IP_RETENTION_DAYS": (90, int, "`flask comments purge` drops IP hashes older than this"),
    "WEBHOOK_LOG_DAYS": (30, int, "`flask comments purge` drops finished webhook deliveries older than this"),
}


def _parse(value: str, parser: Any) -> Any:
    if parser == "bool":
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return parser(value)


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings present in the environment, parsed, without the prefix."""
    environ = dict(os.environ) if environ is None else environ
    found: dict[str, Any] = {}
    for name, (_default, parser, _help) in SETTINGS.items():
        raw = environ.get(PREFIX + name)
        if raw is not None and raw != "":
            found[name] = _parse(raw, parser)
    # Settings owned by other modules (the classifier's CLASSIFIER_* keys) pass through as strings.
    for key, raw in environ.items():
        if key.startswith(PREFIX + "CLASSIFIER_") and raw != "":
            found[key[len(PREFIX):]] = raw
    return found


def defaults() -> dict[str, Any]:
    return {name: default for name, (default, _parser, _help) in SETTINGS.items()}


def instance_secret(instance_path: str) -> str:
    """A secret key kept in the instance folder, so restarts keep tokens valid without setup."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with 0600 so other local users cannot forge edit tokens.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
