"""The moderation figures page."""

from __future__ import annotations

from flask import abort, render_template, request

from comments.dashboard.views.common import bp, login_required
from comments.models import Moderator
from comments.services import stats
from comments.services.review.access import visible_sites
from comments.services.validation import SLUG_PATTERN


@bp.get("/stats")
@login_required
def stats_page(moderator: Moderator) -> str:
    site = request.args.get("site") or None
    if site is not None and not SLUG_PATTERN.fullmatch(site):
        abort(400, "That is not a site name.")
    figures = stats.moderation_stats(moderator, site_slug=site)
    return render_template(
        "dashboard/stats.html", moderator=moderator, figures=figures, site=site, sites=visible_sites(moderator)
    )
