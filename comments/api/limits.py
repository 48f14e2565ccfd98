"""Abuse limits on the public API, counted per site and client IP (``site_and_client``)."""

from __future__ import annotations

from flask import current_app, request

from comments.api.lookup import comment_site
from comments.limiting import limiter, request_key, site_key
from comments.services.errors import ServiceError


def site_and_client() -> str:
    """The limits' key: the site named by the address (or by the comment it names) and the
    client IP, so that a busy site cannot exhaust another site's budget."""
    args = request.view_args or {}
    site = args.get("site_slug")
    if site is None and "comment_id" in args:
        try:
            site = comment_site(args["comment_id"]).site.slug
        except ServiceError:
            site = "-"  # the view answers 404 itself
    elif site is None:
        return request_key()
    return site_key(site)


def _configured(name: str):
    return lambda: current_app.config[name]


def _shared_limit(setting: str, scope: str, methods: list[str]):
    return limiter.shared_limit(_configured(setting), scope=scope, methods=methods, key_func=site_and_client)


def post_limit(methods: list[str]):
    # Shared: posting, editing and deleting draw on one budget per site and IP.
    return _shared_limit("RATELIMIT_POST", "post", methods)


def report_limit(methods: list[str]):
    return _shared_limit("RATELIMIT_REPORT", "report", methods)


def read_limit(methods: list[str]):
    return _shared_limit("RATELIMIT_READ", "read", methods)


def preview_limit(methods: list[str]):
    # Apart from posting: a reader previews several times before sending once.
    return _shared_limit("RATELIMIT_PREVIEW", "preview", methods)
