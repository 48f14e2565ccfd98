"""CORS for the public API: each site's registered origins, and nobody else's.

Requests without an Origin header (servers, curl) pass; a browser request from an origin the
site did not register is refused with 403 ``origin_not_allowed``, preflights included.
"""

from __future__ import annotations

from flask import Response, g, request
from flask_smorest import Blueprint

from comments.api.lookup import comment_site, require_site
from comments.services.errors import Forbidden

ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Edit-Token"
EXPOSED_HEADERS = "ETag, Retry-After"
PREFLIGHT_MAX_AGE = "600"


def _site_for_request():
    args = request.view_args or {}
    if "site_slug" in args:
        return require_site(args["site_slug"])
    if "comment_id" in args:
        return comment_site(args["comment_id"]).site
    return None


def check_origin() -> Response | None:
    origin = request.headers.get("Origin")
    preflight = request.method == "OPTIONS"
    if origin is None:
        return Response(status=204) if preflight else None
    site = _site_for_request()
    if site is None or origin not in (site.allowed_origins or []):
        raise Forbidden("origin_not_allowed", f"The origin {origin} is not allowed for this site.")
    g.cors_origin = origin
    if preflight:
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response
    return None


def add_headers(response: Response) -> Response:
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.vary.add("Origin")
    return response


def protect(blueprint: Blueprint) -> None:
    blueprint.before_request(check_origin)
    blueprint.after_request(add_headers)
