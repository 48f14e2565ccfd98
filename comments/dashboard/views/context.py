"""The context of a decision: a comment's page (its history, its author's other comments) and the
thread it belongs to."""

from __future__ import annotations

from flask import abort, render_template, request

from comments.dashboard.views.common import bp, checked_cursor, login_required
from comments.dashboard.views.queue import queue_filters
from comments.models import Moderator
from comments.services.review.access import get_comment
from comments.services.review.audit_log import audit_events
from comments.services.review.decisions import REJECT_REASONS
from comments.services.review.queue import author_comments, queue_item, queue_of, thread_comments
from comments.services.validation import SLUG_PATTERN, TextError, check_thread_key

HISTORY_SHOWN = 200  # audit events on a comment's page


@bp.get("/comments/<int:comment_id>")
@login_required
def comment(moderator: Moderator, comment_id: int) -> str:
    found = get_comment(moderator, comment_id)
    where = queue_of(found)
    events, _ = audit_events(moderator, comment_id=comment_id, limit=HISTORY_SHOWN)
    return render_template(
        "dashboard/comment.html",
        moderator=moderator,
        item=queue_item(found, where or ""),
        queue=where,
        events=events,
        others=author_comments(moderator, found),
        reject_reasons=REJECT_REASONS,
        filters=queue_filters({}),
    )


@bp.get("/sites/<site_slug>/threads/<threadkey:key>")
@login_required
def thread(moderator: Moderator, site_slug: str, key: str) -> str:
    try:
        check_thread_key(key)
    except TextError:
        abort(404, "No such thread.")
    if not SLUG_PATTERN.fullmatch(site_slug):
        abort(404, "No such thread.")
    cursor = checked_cursor(request.args.get("cursor") or None)
    view = thread_comments(moderator, site_slug, key, cursor=cursor)
    return render_template(
        "dashboard/thread.html",
        moderator=moderator,
        site_slug=site_slug,
        thread=view.thread,
        rows=view.rows,
        next_cursor=view.next_cursor,
        first_page=cursor is None,
    )
