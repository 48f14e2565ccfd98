"""What this process does when Redis fails.

Redis only carries hints: the rate limit counters shared between processes, and the ids of
comments to score (``rq`` mode). The database is the truth. So each use of Redis falls back on
its own: limits count in this process's memory, and new comments wait in the database, `pending`,
for a worker's sweep. Each use reports here, so that an outage is one warning when it starts and
one line when it ends (not one per request), ``comments_redis_errors_total{use}`` and
``comments_redis_degraded{use}`` in /metrics, and ``"degraded": ["redis"]`` in /readyz.
"""

from __future__ import annotations

import logging
import threading
import time

from comments import metrics

log = logging.getLogger(__name__)

# Options for every Redis client the service creates. Short: a Redis that accepts connections but
# never answers (hung, or a dropped network path) must cost a request a second at most, not hang
# it; a dead Redis refuses at once anyway. (redis-py retries nothing for clients made by from_url.)
CLIENT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}

FALLBACKS = {
    "rate_limits": "limits count in each process's memory",
    "scoring_queue": "new comments wait in the database, pending: the sweep will take them",
}


class RedisHealth:
    """The uses of Redis that failed in this process and have not worked since
    (``app.extensions['comments.redis']``)."""

    # After a failure a use waits this long before asking Redis again, so that a hung Redis costs
    # one request its timeout now and then rather than every request.
    retry_seconds = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_at: dict[str, float] = {}  # use -> when it last failed or was last retried

    def failed(self, use: str, error: BaseException | None = None) -> None:
        metrics.REDIS_ERRORS.labels(use).inc()
        with self._lock:
            started = use not in self._failed_at
            self._failed_at[use] = time.monotonic()
        if started:
            metrics.REDIS_DEGRADED.labels(use).set(1)
            reason = f" ({type(error).__name__}: {error})" if error is not None else ""
            log.warning(
                "Redis failed for %s%s; until it answers again, %s", use, reason, FALLBACKS.get(use, "it is skipped")
            )

    def worked(self, use: str) -> None:
        if use not in self._failed_at:
            return  # the usual case, without the lock
        with self._lock:
            failed_at = self._failed_at.pop(use, None)
        if failed_at is not None:
            metrics.REDIS_DEGRADED.labels(use).set(0)
            log.warning("Redis answers again for %s", use)

    def may_try(self, use: str) -> bool:
        """False for ``retry_seconds`` after a failure; then True for one caller at a time."""
        with self._lock:
            failed_at = self._failed_at.get(use)
            if failed_at is None:
                return True
            if time.monotonic() - failed_at >= self.retry_seconds:
                self._failed_at[use] = time.monotonic()  # the others keep to the fallback meanwhile
                return True
            return False

    @property
    def degraded(self) -> list[str]:
        """The uses running on their fallback now."""
        with self._lock:
            return sorted(self._failed_at)
