"""Template filters and globals of the dashboard: reason codes in words, times, durations, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from comments.dashboard.views.common import bp
from comments.models import AuthorStatus, Queue, utcnow
from comments.services import moderation
from comments.services.review.queue import COUNT_LIMIT
from comments.services.sites import CLASSIFIER_LABELS
from comments.services.threads import rfc3339

REASON_FILTERS = (*CLASSIFIER_LABELS, *moderation.FILTER_REASON_CODES)


@bp.app_context_processor
def _template_context() -> dict[str, Any]:
    return {"reason_filters": REASON_FILTERS}


# The queues' names for the templates' tabs, tests and links (``models.Queue``, their one home); a
# global, so that the macros imported without context see it too.
bp.add_app_template_global(Queue, "Queue")
bp.add_app_template_global(AuthorStatus, "AuthorStatus")


bp.add_app_template_filter(moderation.reason_text, "reason_text")

# A queue's name on its tab and in titles: the contract's word, capitalised, but for the one whose
# word is a URL's ("spot-check").
QUEUE_NAMES = {Queue.SPOT_CHECK: "Spot checks"}


@bp.app_template_filter("queue_name")
def queue_name(queue: str) -> str:
    return QUEUE_NAMES.get(Queue(queue), queue.capitalize())


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return cast(datetime, value)  # the rest are datetimes already


@bp.app_template_filter("moment")
def moment_text(value: Any) -> str:
    """A moment as the API writes it (``threads.rfc3339``), for a <time datetime>: the records the
    dashboard shows hold datetimes, a few of their parts (the queue's dates) the API's text."""
    return value if isinstance(value, str) else rfc3339(value) or ""


@bp.app_template_filter("fulltime")
def fulltime(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


@bp.app_template_filter("shortdate")
def shortdate(value: Any) -> str:
    """A moment a moderator chose or reads at a glance (a suspension's end), to the minute."""
    moment = _as_datetime(value)
    return moment.strftime("%d %b %Y %H:%M UTC") if moment else ""


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
    """A bounded queue count (``review.queue.bounded_count``): past the limit, "1000+"."""
    return f"{COUNT_LIMIT}+" if value > COUNT_LIMIT else str(value)
