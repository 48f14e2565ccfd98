"""Abuse limits on the public API, keyed by site and client IP (see ``comments.net``)."""

from __future__ import annotations

from flask import current_app

from comments.extensions import limiter


def _configured(name: str):
    return lambda: current_app.config[name]


def post_limit(methods: list[str]):
    # Shared: posting, editing and deleting draw on one budget per site and IP.
    return limiter.shared_limit(_configured("RATELIMIT_POST"), scope="post", methods=methods)


def report_limit(methods: list[str]):
    return limiter.shared_limit(_configured("RATELIMIT_REPORT"), scope="report", methods=methods)


def read_limit(methods: list[str]):
    return limiter.shared_limit(_configured("RATELIMIT_READ"), scope="read", methods=methods)


def preview_limit(methods: list[str]):
    # Apart from posting: a reader previews several times before sending once.
    return limiter.shared_limit(_configured("RATELIMIT_PREVIEW"), scope="preview", methods=methods)
