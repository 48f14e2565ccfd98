"""The dashboard's blueprint and its request plumbing: CSRF, security headers, error pages, login."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, make_response, redirect, render_template, request, url_for
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from comments import moderator_session
from comments.extensions import db
from comments.models import Moderator, Site
from comments.services.errors import SERVICE_ERROR_STATUS, ServiceError
from comments.services.review.access import site_for
from comments.services.validation import SLUG_PATTERN

log = logging.getLogger(__name__)

# Named for the package, so that its templates/ and static/ are found beside the views/ package.
bp = Blueprint(
    "dashboard",
    "comments.dashboard",
    url_prefix="/mod",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
# The longest cursor the dashboard makes, with room to spare; longer ones are forged.
MAX_CURSOR_LENGTH = 200


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.before_request
def _check_csrf() -> Response | None:
    if request.method in moderator_session.SAFE_METHODS:
        return None
    if not moderator_session.csrf_ok(moderator_session.sent_csrf_token()):
        return error_page(
            403,
            "This form has expired or did not come from the dashboard. Reload the page and try again.",
            title="Form expired",
        )
    return None


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def csrf_token() -> str:
    return moderator_session.csrf_token()


def login_page(error: str | None = None, status: int = 200, email: str = "") -> Response:
    return make_response(
        render_template("dashboard/login.html", error=error, email=email, next=safe_next(request.values.get("next"))),
        status,
    )


def error_page(status: int, message: str, title: str | None = None) -> Response:
    titles = {
        400: "Bad request",
        401: "Please log in",
        403: "Not allowed",
        404: "Not found",
        405: "Not allowed",
        409: "Already decided",
        413: "Too large",
        422: "Not valid",
        429: "Too many attempts",
    }
    title = title or titles.get(status, "Something went wrong")
    template = "dashboard/_notice.html" if is_htmx() else "dashboard/error.html"
    response = make_response(
        render_template(template, status=status, title=title, message=message, moderator=g.get("dashboard_moderator")),
        status,
    )
    if is_htmx():
        # The toast area shows it; the target the request aimed at stays as it was.
        response.headers["HX-Retarget"] = "#toasts"
        response.headers["HX-Reswap"] = "beforeend"
    return response


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    return error_page(SERVICE_ERROR_STATUS[error.kind], error.message)


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database_down(error: Exception) -> Response:
    db.session.rollback()
    log.error("database unavailable: %s", error)
    response = error_page(
        503, "The database is not reachable; nothing was changed. Try again in a moment.", title="Database unavailable"
    )
    response.headers["Retry-After"] = "5"
    return response


@bp.record_once
def _error_pages_for_unrouted_addresses(state: Any) -> None:
    # An address under /mod/ that matches no view (an unknown page, an id past the id columns)
    # never reaches this blueprint's handlers: the app's HTTP error handler asks for this page.
    prefix = (state.url_prefix or "/mod") + "/"
    state.app.extensions.setdefault("comments.error_pages", []).append((prefix, _http_error))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    if error.code == 429 and request.endpoint == "dashboard.login":
        return login_page("Too many attempts. Wait a minute and try again.", 429)
    if request.url_rule is None and error.code == 404:
        return error_page(404, "Nothing is found at this address.")
    return error_page(error.code or 400, error.description or "")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        moderator = moderator_session.session_moderator()
        if moderator is None:
            if is_htmx():
                response = make_response("", 401)
                response.headers["HX-Redirect"] = url_for("dashboard.login")
                return response
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        g.dashboard_moderator = moderator
        return view(moderator, *args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Only a dashboard path of this service, never another host (open redirects)."""
    default = url_for("dashboard.queue")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/mod/") or "\\" in target:
        return default
    return target


def checked_cursor(cursor: str | None) -> str | None:
    if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
        abort(400, "That is not a cursor this dashboard made.")
    return cursor


def moderated_site(moderator: Moderator, site_slug: str) -> Site:
    """The site a page's path names: 404 for what is not even a slug, else as ``site_for`` says
    (404 unknown, 403 another site's)."""
    if not SLUG_PATTERN.fullmatch(site_slug):
        abort(404, "No such site.")
    return site_for(moderator, site_slug)
