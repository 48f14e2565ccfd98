"""The review queue: its tabs, filters and pages of cards."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import abort, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from comments.api.schemas import QueueQuerySchema
from comments.dashboard.views.common import bp, checked_cursor, is_htmx, login_required
from comments.models import Moderator, Queue
from comments.services.review.access import get_author, visible_sites
from comments.services.review.decisions import REJECT_REASONS
from comments.services.review.queue import QueuePage, list_queue, queue_counts

PAGE_SIZE = 20
SORTS = {"oldest": "Oldest first", "score": "Highest score", "newest": "Newest first"}
FILTERS = ("queue", "site", "reason", "sort", "author")
# The API's own reading of the queue's filters: the dashboard refuses what the API refuses.
_FILTER_SCHEMA = QueueQuerySchema(only=FILTERS)


def queue_filters(source: Any, prefix: str = "") -> dict[str, Any]:
    """The queue's filters from query parameters (or the filter_* fields of a decision form); an
    empty field is the filter's default."""
    sent = {name: source.get(prefix + name) for name in FILTERS if source.get(prefix + name)}
    try:
        filters: dict[str, Any] = _FILTER_SCHEMA.load(sent)
        return filters
    except ma.ValidationError as exc:
        messages = exc.normalized_messages()  # type: ignore[no-untyped-call]  # marshmallow's is unannotated
        abort(
            400,
            " ".join(
                f"{name}: {' '.join(map(str, field_messages))}" for name, field_messages in sorted(messages.items())
            ),
        )


def form_filters() -> dict[str, Any]:
    """The queue's filters sent with a decision (checked before anything changes)."""
    return queue_filters(request.form, "filter_")


def counts_for(moderator: Moderator, filters: dict[str, Any]) -> dict[str, int]:
    return queue_counts(moderator, site_slug=filters["site"], reason=filters["reason"], author_id=filters["author"])


def _page(moderator: Moderator, filters: dict[str, Any], cursor: str | None) -> QueuePage:
    return list_queue(
        moderator,
        filters["queue"],
        site_slug=filters["site"],
        reason=filters["reason"],
        author_id=filters["author"],
        sort=filters["sort"],
        limit=PAGE_SIZE,
        cursor=checked_cursor(cursor),
    )


def filter_args(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters as query parameters, leaving out the defaults."""
    return {
        k: v
        for k, v in filters.items()
        if v and not (k == "queue" and v == Queue.HELD) and not (k == "sort" and v == "oldest")
    }


def after_change(moderator: Moderator, fragment: str, filters: dict[str, Any]) -> Response:
    """An htmx answer: the fragment, and the tabs with fresh counts (out of band)."""
    if not is_htmx():
        return redirect(url_for("dashboard.queue", **filter_args(filters)), 303)
    tabs = render_template("dashboard/_tabs.html", filters=filters, counts=counts_for(moderator, filters), oob=True)
    return make_response(fragment + tabs)


@bp.get("/")
@login_required
def queue(moderator: Moderator) -> Response | str:
    filters = queue_filters(request.args)
    # The author filter's chip names them: only an author of the moderator's sites (else 404).
    author = get_author(moderator, str(filters["author"])) if filters["author"] else None
    page = _page(moderator, filters, request.args.get("cursor") or None)
    context = {
        "author": author,
        "moderator": moderator,
        "filters": filters,
        "page": page,
        "reject_reasons": REJECT_REASONS,
        "sorts": SORTS,
    }
    if is_htmx() and request.args.get("cursor"):
        return render_template("dashboard/_cards.html", **context)
    return render_template(
        "dashboard/queue.html", counts=counts_for(moderator, filters), sites=visible_sites(moderator), **context
    )


@bp.get("/counts")
@login_required
def counts(moderator: Moderator) -> str:
    filters = queue_filters(request.args)
    return render_template("dashboard/_tabs.html", filters=filters, counts=counts_for(moderator, filters))
