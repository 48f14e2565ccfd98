"""Deciding from the queue or a comment's page: approve, reject, ban, undo, and bulk decisions."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from werkzeug.wrappers import Response

from comments.dashboard.views.common import bp, login_required
from comments.dashboard.views.queue import after_change, form_filters
from comments.models import MAX_ID, Moderator, Queue, SpotCheckVerdict
from comments.services import parsing
from comments.services.errors import Conflict
from comments.services.review import decisions, spot_checks
from comments.services.review.access import get_comment
from comments.services.review.queue import queue_item, queue_of

# How long the dashboard offers "Undo" after a decision (the server allows decisions.UNDO_SECONDS).
UNDO_OFFER_SECONDS = 8
MAX_BULK = 200
DONE = {
    "approve": ("approved", "Approved"),
    "reject": ("rejected", "Rejected"),
    "ban": ("rejected", "Rejected and author banned"),
}


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
    if reason and reason not in dict(decisions.REJECT_REASONS):
        abort(400, "Choose a reason from the list.")
    return reason


# A spot check's answers on the card's buttons (the verdict's value, or "remove": should have been
# held, and rejected): the confirmation's class and words.
SPOT_CHECK_DONE = {
    SpotCheckVerdict.FINE.value: ("approved", "Fine: rightly published"),
    SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD.value: ("rejected", "Should have been held (still published)"),
    "remove": ("rejected", "Should have been held, removed"),
}


def _decided(
    comment_id: int,
    outcome: str,
    message: str,
    *,
    undo: bool,
    oob: bool = False,
    conflict: Conflict | None = None,
    undo_url: str | None = None,
) -> str:
    decision = (conflict.details.get("current") or {}).get("decision") if conflict else None
    return render_template(
        "dashboard/_decided.html",
        comment_id=comment_id,
        outcome=outcome,
        message=message,
        undo=undo,
        oob=oob,
        undo_seconds=UNDO_OFFER_SECONDS,
        decision=decision,
        undo_url=undo_url,
    )


@bp.post("/comments/<int:comment_id>/decision")
@login_required
def decision(moderator: Moderator, comment_id: int) -> Response:
    filters = form_filters()
    action = request.form.get("action", "")
    if action not in DONE:
        abort(400, "The action is approve, reject or ban.")
    version = _int_field("version", required=False)
    reason = _reject_reason() if action != "approve" else ""
    try:
        decisions.decide(
            moderator,
            comment_id,
            "approve" if action == "approve" else "reject",
            reason=reason,
            expected_version=version,
            ban_author=action == "ban",
        )
    except Conflict as conflict:
        if conflict.code != "already_decided":
            raise
        return after_change(
            moderator, _decided(comment_id, "conflict", conflict.message, undo=False, conflict=conflict), filters
        )
    outcome, label = DONE[action]
    if reason:
        label += f" ({dict(decisions.REJECT_REASONS)[reason].lower()})"
    return after_change(moderator, _decided(comment_id, outcome, label, undo=True), filters)


@bp.post("/comments/<int:comment_id>/undo")
@login_required
def undo(moderator: Moderator, comment_id: int) -> Response:
    filters = form_filters()
    comment = decisions.undo_decision(moderator, comment_id)
    item = queue_item(comment, queue_of(comment) or Queue.HELD)
    fragment = render_template(
        "dashboard/_card.html", item=item, reject_reasons=decisions.REJECT_REASONS, restored=True
    )
    return after_change(moderator, fragment, filters)


@bp.post("/comments/<int:comment_id>/spot-check")
@login_required
def spot_check(moderator: Moderator, comment_id: int) -> Response:
    filters = form_filters()
    choice = request.form.get("verdict", "")
    if choice not in SPOT_CHECK_DONE:
        abort(400, "The answer is fine, should_have_been_held or remove.")
    remove = choice == "remove"
    reason = _reject_reason() if remove else ""
    verdict = SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD.value if remove else choice
    try:
        spot_checks.answer(moderator, comment_id, verdict, remove=remove, reason=reason)
    except Conflict as conflict:
        if conflict.code not in ("already_answered", "not_decidable"):
            raise
        return after_change(moderator, _decided(comment_id, "conflict", conflict.message, undo=False), filters)
    outcome, label = SPOT_CHECK_DONE[choice]
    if reason:
        label += f" ({dict(decisions.REJECT_REASONS)[reason].lower()})"
    undo_url = url_for("dashboard.spot_check_undo", comment_id=comment_id)
    return after_change(moderator, _decided(comment_id, outcome, label, undo=True, undo_url=undo_url), filters)


@bp.post("/comments/<int:comment_id>/spot-check/undo")
@login_required
def spot_check_undo(moderator: Moderator, comment_id: int) -> Response:
    filters = form_filters()
    check = spot_checks.undo_answer(moderator, comment_id)
    item = queue_item(get_comment(moderator, comment_id), Queue.SPOT_CHECK, check=check)
    fragment = render_template(
        "dashboard/_card.html", item=item, reject_reasons=decisions.REJECT_REASONS, restored=True
    )
    return after_change(moderator, fragment, filters)


@bp.post("/bulk")
@login_required
def bulk(moderator: Moderator) -> Response:
    filters = form_filters()
    action = request.form.get("action", "")
    if action not in decisions.ACTIONS:
        abort(400, "Bulk decisions are approve or reject.")
    reason = _reject_reason() if action == "reject" else ""
    selected = request.form.getlist("selected")
    if not selected:
        abort(400, "Select some comments first (x, or the check boxes).")
    if len(selected) > MAX_BULK:
        abort(400, f"At most {MAX_BULK} comments at once.")
    parsed = []
    for value in selected:
        raw_id, _, raw_version = value.partition(":")
        parsed.append((_form_integer(raw_id, "selection", minimum=1), _form_integer(raw_version, "selection")))
    for comment_id, _ in parsed:
        get_comment(moderator, comment_id)  # 404/403 for any of them before anything changes
    fragments, done, conflicts = [], 0, 0
    outcome, label = DONE[action]
    for comment_id, version in parsed:
        try:
            decisions.decide(moderator, comment_id, action, reason=reason, expected_version=version)
        except Conflict as conflict:
            conflicts += 1
            fragments.append(
                _decided(comment_id, "conflict", conflict.message, undo=False, oob=True, conflict=conflict)
            )
        else:
            done += 1
            fragments.append(_decided(comment_id, outcome, label, undo=True, oob=True))
    summary = render_template("dashboard/_bulk_result.html", done=done, conflicts=conflicts, label=label)
    return after_change(moderator, summary + "".join(fragments), filters)
