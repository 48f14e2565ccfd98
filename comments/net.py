"""Who is asking: the client's address (behind trusted proxies only) and the rate-limit key."""

from __future__ import annotations

from flask import g, request


def client_ip() -> str:
    # ProxyFix (installed by create_app when COMMENTS_TRUSTED_PROXY_COUNT > 0) has already replaced
    # remote_addr with the address the trusted proxies saw; X-Forwarded-For is never read here.
    return request.remote_addr or "unknown"


def rate_limit_key() -> str:
    """Limits count per site and client IP: a busy site cannot exhaust another site's budget."""
    args = request.view_args or {}
    site = args.get("site_slug")
    if site is None and "comment_id" in args:
        from comments.api.sites import comment_site
        from comments.services.errors import ServiceError

        try:
            site = comment_site(args["comment_id"]).site.slug
        except ServiceError:
            site = "-"  # the view answers 404 itself
    elif site is None:
        site = g.get("site").slug if g.get("site") is not None else "-"
    return f"{site}|{client_ip()}"
