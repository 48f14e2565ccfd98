"""Who the host is: a site API key in ``Authorization: Bearer <key>``, valid for its own site only.

Failed attempts are counted per client IP (``COMMENTS_RATELIMIT_API_KEY_FAILURES``): past the
limit, every key attempt from that address gets 429 until the window passes, so keys cannot be
guessed at speed. Successful requests cost nothing against that budget.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from limits import RateLimitItem, parse_many
from limits.strategies import RateLimiter

from comments.limiting import client_ip, limiter
from comments.models import ApiKey, Site
from comments.services import apikeys
from comments.services.accounts import TooManyAttempts, Unauthorized
from comments.services.audit import Actor
from comments.services.errors import Forbidden
from comments.services.review.access import HostReviewer

log = logging.getLogger(__name__)

_SCOPE = "api-key-failures"

T = TypeVar("T")


def _limits():
    return parse_many(current_app.config["RATELIMIT_API_KEY_FAILURES"])


def _check_not_blocked(ip: str) -> None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    for item in _limits():
        try:
            allowed, reset_at = _on_limit_store(functools.partial(_window, item=item, ip=ip))
        except Exception as exc:  # no store answers: keys are still checked
            log.warning("API key failure limit not checked (%s)", exc)
            return
        if not allowed:
            raise TooManyAttempts(max(1, int(reset_at - time.time())))


def _window(store: RateLimiter, item: RateLimitItem, ip: str) -> tuple[bool, float]:
    """Whether the client may try a key now, and when not, when the window resets."""
    if store.test(item, _SCOPE, ip):
        return True, 0
    return False, store.get_window_stats(item, _SCOPE, ip)[0]


def _hit(store: RateLimiter, item: RateLimitItem, ip: str) -> bool:
    return store.hit(item, _SCOPE, ip)


def _count_failure(ip: str) -> None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    try:
        for item in _limits():
            _on_limit_store(functools.partial(_hit, item=item, ip=ip))
    except Exception as exc:
        log.warning("API key failure not counted (%s)", exc)


def _on_limit_store(operation: Callable[[RateLimiter], T]) -> T:
    """``operation`` on the limiter's store; when that is Redis and it fails, on the in-memory
    fallback the decorated limits also move to (the limiter reports the outage)."""
    try:
        return operation(limiter.limiter)
    except Exception as exc:
        if not limiter.storage_failed(exc):
            raise
        return operation(limiter.limiter)


def bearer_token() -> str | None:
    """The token in ``Authorization: Bearer <token>``: a site API key or a moderator's token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(raw_key: str | None) -> ApiKey:
    """The active key sent, or 401 (counted against the client's failure budget)."""
    ip = client_ip()
    _check_not_blocked(ip)
    if not raw_key:
        _count_failure(ip)
        raise Unauthorized("api_key_missing", "This needs the site's API key: Authorization: Bearer <key>.")
    key = apikeys.find_key(raw_key)
    if key is None:
        _count_failure(ip)
        raise Unauthorized("api_key_invalid", "The API key is not valid (unknown or revoked).")
    return key


def require_key_for(key: ApiKey, site_slug: str, scope: str) -> Site:
    if key.site.slug != site_slug:
        raise Forbidden("site_not_allowed", "This API key belongs to another site.")
    if not key.has_scope(scope):
        raise Forbidden("scope_missing", f"This API key does not have the '{scope}' scope.")
    return key.site


def require_host(site_slug: str, scope: str = "host") -> Site:
    """The site of the request, when the key sent is one of its active keys with ``scope``."""
    key = g.get("api_key")
    if key is None:
        key = authenticate(bearer_token())
        g.api_key = key
    site = require_key_for(key, site_slug, scope)
    g.site = site
    apikeys.touch(key)
    return site


def host_actor() -> Actor:
    key: ApiKey = g.api_key
    return Actor("host", f"key:{key.prefix}")


def host_reviewer(raw_key: str) -> HostReviewer:
    """The moderation API's caller when it sends a site API key: needs the ``moderate`` scope."""
    key = authenticate(raw_key)
    if not key.has_scope("moderate"):
        raise Forbidden("scope_missing", "This API key does not have the 'moderate' scope.")
    g.api_key = key
    apikeys.touch(key)
    return HostReviewer(site_slug=key.site.slug, key_prefix=key.prefix)
