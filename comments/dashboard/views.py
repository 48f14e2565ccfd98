"""Dashboard views: login, the review queue, decisions, context pages, site settings, stats."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from comments import moderator_session
from comments.api.errors import SERVICE_ERROR_STATUS
from comments.extensions import db
from comments.models import MAX_ID, Moderator, utcnow
from comments.limiting import client_ip, limiter
from comments.services.validation import REASON_FILTER_PATTERN, SLUG_PATTERN, TextError, check_thread_key
from comments.services import accounts, moderation, parsing, review, stats
from comments.services.audit import Actor
from comments.services.errors import Conflict, ServiceError
from comments.services.sites import CLASSIFIER_LABELS, PREMODERATION_MODES, effective_settings, update_settings

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__, url_prefix="/mod", template_folder="templates",
               static_folder="static", static_url_path="/static")

PAGE_SIZE = 20
SORTS = {"oldest": "Oldest first", "score": "Highest score", "newest": "Newest first"}
# How long the dashboard offers "Undo" after a decision (the server allows review.UNDO_SECONDS).
UNDO_OFFER_SECONDS = 8

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
])


# --- request plumbing ---------------------------------------------------------------------------

def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.before_request
def _check_csrf() -> Response | None:
    if request.method in moderator_session.SAFE_METHODS:
        return None
    if not moderator_session.csrf_ok(moderator_session.sent_csrf_token()):
        return _error_page(403, "This form has expired or did not come from the dashboard. Reload the page "
                                "and try again.", title="Form expired")
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


def _error_page(status: int, message: str, title: str | None = None) -> Response:
    titles = {400: "Bad request", 401: "Please log in", 403: "Not allowed", 404: "Not found",
              405: "Not allowed", 409: "Already decided", 413: "Too large", 422: "Not valid",
              429: "Too many attempts"}
    title = title or titles.get(status, "Something went wrong")
    template = "dashboard/_notice.html" if is_htmx() else "dashboard/error.html"
    response = make_response(render_template(template, status=status, title=title, message=message,
                                              moderator=g.get("dashboard_moderator")), status)
    if is_htmx():
        # The toast area shows it; the target the request aimed at stays as it was.
        response.headers["HX-Retarget"] = "#toasts"
        response.headers["HX-Reswap"] = "beforeend"
    return response


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    return _error_page(SERVICE_ERROR_STATUS.get(error.kind, 400), error.message)


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _database_down(error: Exception) -> Response:
    db.session.rollback()
    log.error("database unavailable: %s", error)
    response = _error_page(503, "The database is not reachable; nothing was changed. Try again in a moment.",
                           title="Database unavailable")
    response.headers["Retry-After"] = "5"
    return response


@bp.record_once
def _error_pages_for_unrouted_addresses(state: Any) -> None:
    # An address under /mod/ that matches no view (an unknown page, an id past the id columns)
    # never reaches this blueprint's handlers: the app's HTTP error handler asks for this page.
    state.app.extensions.setdefault("comments.error_pages", []).append(((state.url_prefix or "/mod") + "/", _http_error))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    if error.code == 429 and request.endpoint == "dashboard.login":
        return _login_page("Too many attempts. Wait a minute and try again.", 429)
    if request.url_rule is None and error.code == 404:
        return _error_page(404, "Nothing is found at this address.")
    return _error_page(error.code or 400, error.description or "")


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


def _safe_next(target: str | None) -> str:
    """Only a dashboard path of this service, never another host (open redirects)."""
    default = url_for("dashboard.queue")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/mod/") or "\\" in target:
        return default
    return target


# --- login --------------------------------------------------------------------------------------

def _login_page(error: str | None = None, status: int = 200, email: str = "") -> Response:
    return make_response(render_template("dashboard/login.html", error=error, email=email,
                                         next=_safe_next(request.values.get("next"))), status)


@bp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="dashboard-login", methods=["POST"])
def login() -> Response:
    if request.method == "GET":
        if moderator_session.session_moderator() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return _login_page()
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    try:
        lifetime = timedelta(hours=current_app.config["MODERATOR_TOKEN_HOURS"])
        issued = accounts.login(email, password, lifetime, client_ip=client_ip())
    except accounts.Unauthorized:
        return _login_page("The email or password is not right.", 401, email)
    moderator_session.start(issued)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.post("/logout")
def logout() -> Response:
    moderator_session.end()
    return redirect(url_for("dashboard.login"), 303)


# --- the queue ----------------------------------------------------------------------------------

def _queue_filters(source: Any, prefix: str = "") -> dict[str, Any]:
    """The queue's filters from query parameters (or the filter_* fields of a decision form)."""
    queue = source.get(prefix + "queue") or "held"
    site = source.get(prefix + "site") or None
    reason = source.get(prefix + "reason") or None
    sort = source.get(prefix + "sort") or "oldest"
    if queue not in review.QUEUES:
        abort(400, f"There is no queue '{queue}'.")
    if site is not None and not SLUG_PATTERN.fullmatch(site):
        abort(400, "That is not a site name.")
    if reason is not None and not REASON_FILTER_PATTERN.fullmatch(reason):
        abort(400, "That is not a reason code.")
    if sort not in SORTS:
        abort(400, f"Sorting by '{sort}' is not offered.")
    return {"queue": queue, "site": site, "reason": reason, "sort": sort}


def _counts(moderator: Moderator, filters: dict[str, Any]) -> dict[str, int]:
    return review.queue_counts(moderator, site_slug=filters["site"], reason=filters["reason"])


def _page(moderator: Moderator, filters: dict[str, Any], cursor: str | None) -> review.QueuePage:
    if cursor is not None and len(cursor) > 200:
        abort(400, "That is not a cursor this dashboard made.")
    return review.list_queue(moderator, filters["queue"], site_slug=filters["site"], reason=filters["reason"],
                             sort=filters["sort"], limit=PAGE_SIZE, cursor=cursor)


@bp.get("/")
@login_required
def queue(moderator: Moderator) -> Response | str:
    filters = _queue_filters(request.args)
    page = _page(moderator, filters, request.args.get("cursor") or None)
    context = {"moderator": moderator, "filters": filters, "page": page,
               "reject_reasons": review.REJECT_REASONS, "sorts": SORTS}
    if is_htmx() and request.args.get("cursor"):
        return render_template("dashboard/_cards.html", **context)
    return render_template("dashboard/queue.html", counts=_counts(moderator, filters),
                           sites=review.visible_sites(moderator), **context)


@bp.get("/counts")
@login_required
def counts(moderator: Moderator) -> str:
    filters = _queue_filters(request.args)
    return render_template("dashboard/_tabs.html", filters=filters, counts=_counts(moderator, filters))


def _form_integer(raw: str, what: str, minimum: int = 0) -> int:
    """A number the dashboard put in a form (an id, a version), read by ``parsing.integer``."""
    try:
        return parsing.integer(raw, minimum=minimum, maximum=MAX_ID)
    except parsing.ParseError:
        abort(400, f"The form's {what} is missing or not a number; reload the page.")


def _int_field(name: str, *, required: bool = True) -> int | None:
    raw = request.form.get(name, "")
    if not raw and not required:
        return None
    return _form_integer(raw, name)


def _reject_reason() -> str:
    reason = request.form.get("reason", "")
    if reason and reason not in dict(review.REJECT_REASONS):
        abort(400, "Choose a reason from the list.")
    return reason


def _decided(moderator: Moderator, comment_id: int, outcome: str, message: str, *,
             undo: bool, oob: bool = False, conflict: Conflict | None = None) -> str:
    decision = (conflict.details.get("current") or {}).get("decision") if conflict else None
    return render_template("dashboard/_decided.html", comment_id=comment_id, outcome=outcome, message=message,
                           undo=undo, oob=oob, undo_seconds=UNDO_OFFER_SECONDS, decision=decision)


def _form_filters() -> dict[str, Any]:
    """The queue's filters sent with a decision (checked before anything changes)."""
    return _queue_filters(request.form, "filter_")


def _after_change(moderator: Moderator, fragment: str, filters: dict[str, Any]) -> Response:
    """An htmx answer: the fragment, and the tabs with fresh counts (out of band)."""
    if not is_htmx():
        return redirect(url_for("dashboard.queue", **_filter_args(filters)), 303)
    tabs = render_template("dashboard/_tabs.html", filters=filters, counts=_counts(moderator, filters), oob=True)
    return make_response(fragment + tabs)


def _filter_args(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if v and not (k == "queue" and v == "held")
            and not (k == "sort" and v == "oldest")}


DONE = {"approve": ("approved", "Approved"), "reject": ("rejected", "Rejected"),
        "ban": ("rejected", "Rejected and author banned")}


@bp.post("/comments/<int:comment_id>/decision")
@login_required
def decision(moderator: Moderator, comment_id: int) -> Response:
    filters = _form_filters()
    action = request.form.get("action", "")
    if action not in DONE:
        abort(400, "The action is approve, reject or ban.")
    version = _int_field("version", required=False)
    reason = _reject_reason() if action != "approve" else ""
    try:
        review.decide(moderator, comment_id, "approve" if action == "approve" else "reject", reason=reason,
                      expected_version=version, ban_author=action == "ban")
    except Conflict as conflict:
        if conflict.code != "already_decided":
            raise
        return _after_change(moderator, _decided(moderator, comment_id, "conflict", conflict.message, undo=False,
                                                      conflict=conflict),
                             filters)
    outcome, label = DONE[action]
    if reason:
        label += f" ({dict(review.REJECT_REASONS)[reason].lower()})"
    return _after_change(moderator, _decided(moderator, comment_id, outcome, label, undo=True), filters)


@bp.post("/comments/<int:comment_id>/undo")
@login_required
def undo(moderator: Moderator, comment_id: int) -> Response:
    filters = _form_filters()
    comment = review.undo_decision(moderator, comment_id)
    where = review.queue_of(comment)
    item = review.queue_item(comment, where or "held")
    fragment = render_template("dashboard/_card.html", item=item, reject_reasons=review.REJECT_REASONS,
                               restored=True)
    return _after_change(moderator, fragment, filters)


@bp.post("/bulk")
@login_required
def bulk(moderator: Moderator) -> Response:
    filters = _form_filters()
    action = request.form.get("action", "")
    if action not in ("approve", "reject"):
        abort(400, "Bulk decisions are approve or reject.")
    reason = _reject_reason() if action == "reject" else ""
    selected = request.form.getlist("selected")
    if not selected:
        abort(400, "Select some comments first (x, or the check boxes).")
    if len(selected) > 200:
        abort(400, "At most 200 comments at once.")
    parsed = []
    for value in selected:
        comment_id, _, version = value.partition(":")
        parsed.append((_form_integer(comment_id, "selection", minimum=1), _form_integer(version, "selection")))
    for comment_id, _ in parsed:
        review.get_comment(moderator, comment_id)  # 404/403 for any of them before anything changes
    fragments, done, conflicts = [], 0, 0
    outcome, label = DONE[action]
    for comment_id, version in parsed:
        try:
            review.decide(moderator, comment_id, action, reason=reason, expected_version=version)
        except Conflict as conflict:
            conflicts += 1
            fragments.append(_decided(moderator, comment_id, "conflict", conflict.message, undo=False, oob=True,
                                      conflict=conflict))
        else:
            done += 1
            fragments.append(_decided(moderator, comment_id, outcome, label, undo=True, oob=True))
    summary = render_template("dashboard/_bulk_result.html", done=done, conflicts=conflicts, label=label)
    return _after_change(moderator, summary + "".join(fragments), filters)


# --- context ------------------------------------------------------------------------------------

@bp.get("/comments/<int:comment_id>")
@login_required
def comment(moderator: Moderator, comment_id: int) -> str:
    found = review.get_comment(moderator, comment_id)
    where = review.queue_of(found)
    events, _ = review.audit_events(moderator, comment_id=comment_id, limit=200)
    return render_template("dashboard/comment.html", moderator=moderator, item=review.queue_item(found, where or ""),
                           queue=where, events=events, others=review.author_comments(moderator, found),
                           reject_reasons=review.REJECT_REASONS, filters=_queue_filters({}))


@bp.get("/sites/<site_slug>/threads/<threadkey:key>")
@login_required
def thread(moderator: Moderator, site_slug: str, key: str) -> str:
    try:
        check_thread_key(key)
    except TextError:
        abort(404, "No such thread.")
    if not SLUG_PATTERN.fullmatch(site_slug):
        abort(404, "No such thread.")
    cursor = request.args.get("cursor") or None
    if cursor is not None and len(cursor) > 200:
        abort(400, "That is not a cursor this dashboard made.")
    view = review.thread_comments(moderator, site_slug, key, cursor=cursor)
    return render_template("dashboard/thread.html", moderator=moderator, site_slug=site_slug, thread=view.thread,
                           rows=view.rows, next_cursor=view.next_cursor, first_page=cursor is None)


# --- settings -----------------------------------------------------------------------------------

@bp.get("/settings")
@login_required
def settings_index(moderator: Moderator) -> Response | str:
    sites = review.visible_sites(moderator)
    if len(sites) == 1:
        return redirect(url_for("dashboard.site_settings", site_slug=sites[0].slug))
    return render_template("dashboard/settings_index.html", moderator=moderator, sites=sites)


def _site(moderator: Moderator, site_slug: str):
    if not SLUG_PATTERN.fullmatch(site_slug):
        abort(404, "No such site.")
    return review.site_for(moderator, site_slug)


def _settings_from_form(form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's values as an ``update_settings`` change, and per-field errors it cannot even parse."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    thresholds: dict[str, float] = {}
    for label in CLASSIFIER_LABELS:
        raw = form.get(f"threshold_{label}", "").strip()
        if raw == "":
            continue
        try:
            thresholds[label] = parsing.decimal(raw)  # the range is update_settings' rule
        except parsing.ParseError:
            errors[f"threshold_{label}"] = ["Enter a number between 0 and 1."]
    if thresholds:
        changes["thresholds"] = thresholds
    for field in ("premoderation", "failure_policy"):
        if field in form:
            changes[field] = form.get(field)
    for field in ("banned_words", "suspect_words"):
        if field in form:
            changes[field] = [line.strip() for line in form.get(field, "").splitlines() if line.strip()]
    if "present_shadow_mode" in form:
        changes["shadow_mode"] = form.get("shadow_mode") == "on"
    return changes, errors


def _render_settings(moderator: Moderator, site: Any, *, errors: dict[str, Any] | None = None,
                     saved: bool = False, status: int = 200, values: dict[str, Any] | None = None) -> Response:
    current = effective_settings(site)
    shown = {**current, **(values or {})}
    preview = stats.threshold_preview(site, shown.get("thresholds"))
    return make_response(render_template(
        "dashboard/settings.html", moderator=moderator, site=site, settings=shown, preview=preview,
        labels=CLASSIFIER_LABELS, modes=PREMODERATION_MODES, errors=errors or {}, saved=saved), status)


@bp.route("/sites/<site_slug>/settings", methods=["GET", "POST"])
@login_required
def site_settings(moderator: Moderator, site_slug: str) -> Response:
    site = _site(moderator, site_slug)
    if request.method == "GET":
        return _render_settings(moderator, site, saved=request.args.get("saved") == "1")
    changes, errors = _settings_from_form(request.form)
    if not errors:
        try:
            update_settings(site, changes, Actor("moderator", str(moderator.id)))
        except ma.ValidationError as exc:
            db.session.rollback()
            errors = _flatten(exc.messages)
        else:
            db.session.commit()
            return redirect(url_for("dashboard.site_settings", site_slug=site.slug, saved=1), 303)
    return _render_settings(moderator, site, errors=errors, status=422, values=_shown_values(changes))


def _flatten(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {"_form": [str(messages)]}
    flat: dict[str, list[str]] = {}
    for field, value in messages.items():
        if field == "thresholds" and isinstance(value, dict):
            for label, inner in value.items():
                text = inner.get("value", inner) if isinstance(inner, dict) else inner
                flat[f"threshold_{label}"] = [str(m) for m in (text if isinstance(text, list) else [text])]
        else:
            flat[str(field)] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


def _shown_values(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in changes.items() if k != "thresholds"}


@bp.get("/sites/<site_slug>/settings/preview")
@login_required
def settings_preview(moderator: Moderator, site_slug: str) -> str:
    site = _site(moderator, site_slug)
    thresholds: dict[str, float] = {}
    for label in CLASSIFIER_LABELS:
        raw = request.args.get(f"threshold_{label}", "").strip()
        try:
            thresholds[label] = parsing.decimal(raw, minimum=0.0, maximum=1.0)
        except parsing.ParseError:
            continue  # a half-typed value: the preview shows the others
    preview = stats.threshold_preview(site, thresholds)
    return render_template("dashboard/_preview.html", preview=preview, labels=CLASSIFIER_LABELS)


# --- stats --------------------------------------------------------------------------------------

@bp.get("/stats")
@login_required
def stats_page(moderator: Moderator) -> str:
    site = request.args.get("site") or None
    if site is not None and not SLUG_PATTERN.fullmatch(site):
        abort(400, "That is not a site name.")
    figures = stats.moderation_stats(moderator, site_slug=site)
    return render_template("dashboard/stats.html", moderator=moderator, figures=figures, site=site,
                           sites=review.visible_sites(moderator))


# --- template helpers ---------------------------------------------------------------------------

REASON_FILTERS = (*CLASSIFIER_LABELS, *moderation.FILTER_REASON_CODES)


@bp.app_context_processor
def _template_context() -> dict[str, Any]:
    return {"reason_filters": REASON_FILTERS}


bp.add_app_template_filter(moderation.reason_text, "reason_text")


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


@bp.app_template_filter("fulltime")
def fulltime(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


@bp.app_template_filter("duration")
def duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@bp.app_template_filter("age")
def age(value: Any) -> str:
    moment = _as_datetime(value)
    return duration((utcnow() - moment).total_seconds()) if moment else ""


@bp.app_template_filter("ago")
def ago(value: Any) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return ""
    seconds = (utcnow() - moment).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 7 * 86400:
        return f"{duration(seconds)} ago"
    return moment.strftime("%d %b %Y")


@bp.app_template_filter("queue_count")
def queue_count(value: int) -> str:
    """A bounded queue count (``review.bounded_count``): past the limit, "1000+"."""
    return f"{review.COUNT_LIMIT}+" if value > review.COUNT_LIMIT else str(value)
