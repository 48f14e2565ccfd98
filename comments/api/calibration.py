"""The calibration API: a site's figures on its thresholds, and applying the recommendation.

For the site's moderators (token or dashboard session) and its API keys with the ``moderate``
scope, like the rest of the moderation API.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from comments.api.auth import require_moderator
from comments.api.calibration_schemas import (
    CalibrationAppliedSchema,
    CalibrationApplySchema,
    CalibrationEnvelopeSchema,
    CalibrationQuerySchema,
)
from comments.services.calibration import report
from comments.services.review.access import reviewer_actor, site_for

blp = Blueprint(
    "calibration",
    __name__,
    url_prefix="/api/v1/moderation",
    description="For moderators: what the decisions say about each label's threshold, and applying "
    "the recommended thresholds.",
)


@blp.before_request
def _authenticate_first() -> None:
    # Credentials before arguments: without them the answer is 401 whatever was sent.
    if request.path.startswith("/api/v1/moderation/"):
        require_moderator()


@blp.route("/sites/<site_slug>/calibration")
class Calibration(MethodView):
    @blp.arguments(CalibrationQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, CalibrationEnvelopeSchema)
    @blp.alt_response(404, description="`site_not_found`")
    @blp.alt_response(403, description="`site_not_allowed`: you do not moderate this site")
    def get(self, query: dict[str, Any], site_slug: str):
        """Per label: decided holds and the share rejected, hold rate, time held, estimated misses,
        the precision/recall/hold-rate curve, the recommendation for the objective and its effect,
        drift; for the site: the spot-check backlog and the estimated share of misses."""
        site = site_for(require_moderator(), site_slug)
        return {"calibration": report.calibration_report(site, days=query["days"], objective=query["objective"])}


@blp.route("/sites/<site_slug>/calibration/apply")
class CalibrationApply(MethodView):
    @blp.arguments(CalibrationApplySchema)
    @blp.response(200, CalibrationAppliedSchema)
    @blp.alt_response(404, description="`site_not_found`")
    @blp.alt_response(403, description="`site_not_allowed`: you do not moderate this site")
    def post(self, data: dict[str, Any], site_slug: str):
        """Set the recommended thresholds (all labels, or `labels`) through the site's settings, audited
        with the evidence; labels without enough decisions or without a recommendation are left alone
        and listed with the reason."""
        reviewer = require_moderator()
        site = site_for(reviewer, site_slug)
        return report.apply(
            site, reviewer_actor(reviewer), labels=data["labels"], objective=data["objective"], days=data["days"]
        )
