"""Who is asking and how often: the client's address (behind trusted proxies only), the limiter.

The limits themselves are declared where they apply: the public API's in ``comments.api.limits``
(counted per site and client IP), the logins' on the login views.
"""

from __future__ import annotations

import time

import flask_limiter
from flask import current_app, g, request
from limits.storage import MemoryStorage


def client_ip() -> str:
    # ProxyFix (installed by create_app when COMMENTS_TRUSTED_PROXY_COUNT > 0) has already replaced
    # remote_addr with the address the trusted proxies saw; X-Forwarded-For is never read here.
    return request.remote_addr or "unknown"


def site_key(site_slug: str | None) -> str:
    """The key of a limit counted per site and client IP: a busy site cannot exhaust another
    site's budget. "-" where no site is known."""
    return f"{site_slug or '-'}|{client_ip()}"


def request_key() -> str:
    """The default key: the site this request already looked up (if any) and the client IP."""
    site = g.get("site")
    return site_key(site.slug if site is not None else None)


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, with Redis outages reported (``comments.redis_health``).

    ``create_app`` turns on Flask-Limiter's in-memory fallback: when the storage (Redis) fails, it
    counts in this process's memory and looks at Redis again after 1, 2, 4 ... 32 seconds. Its
    state is one private flag (``_storage_dead``, Flask-Limiter 4.1), read here, so that the
    outage and the recovery each make one warning and move the metrics. Read with ``getattr``: if
    a release renames it, limits still fall back and requests still work, only unreported
    (tests/api/test_redis_down.py would say so).
    """

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        was_down = getattr(self, "_storage_dead", False)
        try:
            super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)
        finally:
            down = getattr(self, "_storage_dead", False)
            if down != was_down:
                self._report(down)

    def storage_failed(self, error: BaseException) -> bool:
        """A direct use of ``self.limiter`` failed (``comments.api.hostauth``): count in memory
        from now on, as the decorated limits do. False when there is no fallback to go to."""
        if not getattr(self, "_in_memory_fallback_enabled", False) or not hasattr(self, "_storage_dead"):
            return False
        if not self._storage_dead:
            self._storage_dead = True
            self._report(True, error)
        return True

    def _report(self, down: bool, error: BaseException | None = None) -> None:
        if isinstance(self._storage, MemoryStorage):
            return  # no Redis: what failed was something else (the key function's database lookup)
        health = current_app.extensions["comments.redis"]
        if down:
            health.failed("rate_limits", error)
        else:
            health.worked("rate_limits")


limiter = Limiter(key_func=request_key)


def retry_after_seconds() -> int:
    """Seconds until the limit this request ran into resets: its 429's ``Retry-After``."""
    current = limiter.current_limit
    if current is None:
        return 60
    try:
        return max(1, int(current.reset_at - time.time()))
    except Exception:  # the limit store (Redis) failed since the limit was checked: still a 429
        return 60
