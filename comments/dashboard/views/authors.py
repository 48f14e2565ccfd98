"""The person behind a comment: the author panel (a page, or a drawer opened from a card) and the
status changes made from it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from comments.dashboard.views.common import bp, checked_cursor, is_htmx, login_required
from comments.models import AuthorStatus, Moderator, Status, utcnow
from comments.services import parsing
from comments.services.review.authors import author_page, change_status

PANEL_PAGE = 20  # comments per page of the panel
MAX_REASON = 500  # ``Author.status_reason``'s length
# The durations offered for a suspension; "date" (or any day filled in) takes the form's date field.
SUSPENSIONS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30), "date": None}
SUSPENSION_WORDS = {"1d": "1 day", "7d": "7 days", "30d": "30 days", "date": "until a date"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The panel's buttons, in order: the status, its words, its key (dashboard.js reads data-status-key).
STATUS_CHOICES = (
    (AuthorStatus.ACTIVE, "Active", "a"),
    (AuthorStatus.PREMOD, "Pre-moderate", "p"),
    (AuthorStatus.SUSPENDED, "Suspend", "s"),
    (AuthorStatus.BANNED, "Ban", "b"),
)


def _panel(moderator: Moderator, author_id: str, cursor: str | None, **extra: Any) -> dict[str, Any]:
    page = author_page(moderator, author_id, limit=PANEL_PAGE, cursor=cursor)
    return {
        "moderator": moderator,
        "author": page.author,
        "rows": page.comments,
        "next_cursor": page.next_cursor,
        "status_choices": STATUS_CHOICES,
        "suspensions": SUSPENSION_WORDS,
        "comment_statuses": [s.value for s in Status],
        **extra,
    }


@bp.get("/authors/<author_id>")
@login_required
def author(moderator: Moderator, author_id: str) -> str:
    cursor = checked_cursor(request.args.get("cursor") or None)
    context = _panel(moderator, author_id, cursor)
    if is_htmx() and cursor:
        return render_template("dashboard/_author_comments.html", **context)
    if is_htmx():
        return render_template("dashboard/_author_panel.html", in_drawer=True, **context)
    return render_template("dashboard/author.html", in_drawer=False, **context)


def _until(status: AuthorStatus) -> datetime | None:
    """A suspension's end from the form: a duration from now, or the start (UTC) of a chosen day."""
    if status != AuthorStatus.SUSPENDED:
        return None
    choice = request.form.get("duration", "1d")
    if choice not in SUSPENSIONS:
        abort(400, "Choose how long the suspension lasts from the list.")
    now = utcnow()
    raw = request.form.get("until_date", "")
    length = SUSPENSIONS[choice]
    if length is not None and not raw:
        return now + length
    # A day filled in wins over the list: it is the more deliberate of the two.
    if not _DATE.fullmatch(raw):
        abort(400, "Choose the day the suspension ends.")
    try:
        until = parsing.moment(f"{raw}T00:00:00Z")
    except parsing.ParseError:
        abort(400, "That day does not exist; choose the day the suspension ends.")
    # Whether it ends in the future, and within ten years: readers.check_status_change, as for the API.
    return until


@bp.post("/authors/<author_id>/status")
@login_required
def author_status(moderator: Moderator, author_id: str) -> Response | str:
    try:
        status = AuthorStatus(request.form.get("status", ""))
    except ValueError:
        abort(400, "The status is active, premod, suspended or banned.")
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        abort(400, f"The reason is at most {MAX_REASON} characters.")
    changed = change_status(moderator, author_id, status, until=_until(status), reason=reason)
    if not is_htmx():
        return redirect(url_for("dashboard.author", author_id=changed.id), 303)
    # The panel answers in place: in the drawer (a card's) or on the author's own page.
    in_drawer = request.form.get("view") != "page"
    return render_template(
        "dashboard/_author_panel.html", **_panel(moderator, author_id, None, in_drawer=in_drawer, done=status)
    )
