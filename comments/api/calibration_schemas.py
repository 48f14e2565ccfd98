"""marshmallow 4 schemas of the calibration API: the query and body it reads, the report it answers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from comments.api.schemas import QueryInteger, StrictSchema
from comments.services import parsing
from comments.services.calibration.estimates import OBJECTIVE_KINDS, Objective, parse_objective
from comments.services.calibration.report import DEFAULT_DAYS, MAX_DAYS
from comments.services.sites import CLASSIFIER_LABELS, AutoCalibrateSchema
from comments.services.threads import Rfc3339

OBJECTIVE_DESCRIPTION = (
    "what the recommendation aims for: `balance` (the best F1 of holds), `precision` with a `target` of 0.9 "
    "(the lowest threshold whose holds a moderator rejects at least 90% of the time), `hold_rate` with a "
    "`target` of 0.03 (the lowest threshold that holds at most 3% of comments); default: the site's "
    "`calibration_objective`"
)


class ObjectiveInput(ma.fields.Field[Objective]):
    """An objective in a body, read by ``estimates.parse_objective`` (the one parser): the object
    form ``{"kind", "target"}``, or the bare kind ``"balance"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Objective:
        try:
            return parse_objective(value)
        except (TypeError, ValueError) as exc:
            raise ma.ValidationError(str(exc)) from None


class QueryDecimal(ma.fields.Float):
    """A decimal from a query string, read by ``parsing.decimal`` (no "nan", "1e3" or spaces)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return parsing.decimal(value, minimum=0.0, maximum=1.0)
        except parsing.ParseError as exc:
            raise ma.ValidationError(exc.message) from None


class CalibrationQuerySchema(StrictSchema):
    days = QueryInteger(
        minimum=1, maximum=MAX_DAYS, load_default=DEFAULT_DAYS, metadata={"description": "the window, in days"}
    )
    objective = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(OBJECTIVE_KINDS),
        metadata={"description": OBJECTIVE_DESCRIPTION},
    )
    target = QueryDecimal(
        load_default=None, metadata={"description": "the objective's target (0-1), for precision and hold_rate"}
    )

    @ma.post_load
    def _objective(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        kind, target = data.pop("objective"), data.pop("target")
        if kind is None:
            if target is not None:
                raise ma.ValidationError("A target needs its objective (precision or hold_rate).", "target")
            data["objective"] = None
            return data
        try:
            data["objective"] = parse_objective({"kind": kind, "target": target})
        except ValueError as exc:
            raise ma.ValidationError(str(exc), "objective") from None
        return data


class CalibrationApplySchema(StrictSchema):
    labels = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(CLASSIFIER_LABELS)),
        load_default=None,
        validate=ma.validate.Length(min=1, max=len(CLASSIFIER_LABELS) * 2),
        metadata={"description": "the labels whose threshold to set (default: every label)"},
    )
    objective = ObjectiveInput(
        load_default=None,
        metadata={
            "description": 'what the recommendation aims for: `{"kind": "precision", "target": 0.9}`, '
            '`{"kind": "hold_rate", "target": 0.03}`, `{"kind": "balance"}` (or `"balance"`); default: '
            "the site's `calibration_objective`",
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": list(OBJECTIVE_KINDS)},
                        "target": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                    },
                    "required": ["kind"],
                },
            ],
        },
    )
    days = ma.fields.Integer(strict=True, load_default=DEFAULT_DAYS, validate=ma.validate.Range(1, MAX_DAYS))


class IntervalSchema(ma.Schema):
    value = ma.fields.Float()
    low = ma.fields.Float(metadata={"description": "95% interval, low end"})
    high = ma.fields.Float(metadata={"description": "95% interval, high end"})


class ObjectiveSchema(ma.Schema):
    kind = ma.fields.String()
    target = ma.fields.Float(allow_none=True)


class CurvePointSchema(ma.Schema):
    threshold = ma.fields.Float()
    hold_rate = ma.fields.Float(metadata={"description": "the share of scored comments at or over the threshold"})
    precision = ma.fields.Nested(
        IntervalSchema, allow_none=True, metadata={"description": "estimated share of its holds a moderator rejects"}
    )
    recall = ma.fields.Nested(
        IntervalSchema, allow_none=True, metadata={"description": "estimated share of the bad comments it holds"}
    )
    f1 = ma.fields.Float(allow_none=True)
    est_held = ma.fields.Float()
    est_bad_held = ma.fields.Float()


class RecommendationSchema(ma.Schema):
    threshold = ma.fields.Float(allow_none=True)
    meets_objective = ma.fields.Boolean()
    reason = ma.fields.String(metadata={"description": "a code: why this threshold (or none)"})
    point = ma.fields.Nested(CurvePointSchema, allow_none=True)


class EffectSchema(ma.Schema):
    comments = ma.fields.Integer(metadata={"description": "the site's last scored comments counted"})
    held_now = ma.fields.Integer()
    held_then = ma.fields.Integer(metadata={"description": "held with the recommended threshold"})
    change = ma.fields.Integer(metadata={"description": "more held (negative: fewer)"})
    bad = ma.fields.Integer(metadata={"description": "of the comments whose fate changes: rejected by a moderator"})
    fine = ma.fields.Integer(metadata={"description": "of the comments whose fate changes: approved or found fine"})


class DriftSchema(ma.Schema):
    psi = ma.fields.Float(allow_none=True, metadata={"description": "population stability index"})
    drifted = ma.fields.Boolean()
    recent = ma.fields.List(ma.fields.Float(), metadata={"description": "shares per 0.05 of score, last 7 days"})
    reference = ma.fields.List(ma.fields.Float(), metadata={"description": "the same, the 28 days before"})
    recent_count = ma.fields.Integer()
    reference_count = ma.fields.Integer()
    recent_models = ma.fields.List(ma.fields.String())
    reference_models = ma.fields.List(ma.fields.String())
    model_changed = ma.fields.Boolean()
    model_changed_on = ma.fields.Date(allow_none=True)


class LabelReportSchema(ma.Schema):
    label = ma.fields.String()
    threshold = ma.fields.Float()
    enough_decisions = ma.fields.Boolean(
        metadata={"description": "false: not enough decisions yet (the decisions' figures are null)"}
    )
    min_decisions = ma.fields.Integer()
    holds_decided = ma.fields.Integer()
    holds_rejected = ma.fields.Integer()
    share_rejected = ma.fields.Nested(IntervalSchema, allow_none=True)
    hold_rate = ma.fields.Float(allow_none=True)
    scored = ma.fields.Integer()
    median_held_seconds = ma.fields.Float(allow_none=True)
    spot_checks = ma.fields.Integer()
    published_miss_share = ma.fields.Nested(IntervalSchema, allow_none=True)
    curve = ma.fields.List(ma.fields.Nested(CurvePointSchema))
    current = ma.fields.Nested(CurvePointSchema, allow_none=True)
    recommendation = ma.fields.Nested(RecommendationSchema, allow_none=True)
    effect = ma.fields.Nested(EffectSchema, allow_none=True)
    drift = ma.fields.Nested(DriftSchema)


class CalibrationReportSchema(ma.Schema):
    site = ma.fields.String(attribute="site_slug")
    days = ma.fields.Integer()
    since = Rfc3339()
    generated_at = Rfc3339()
    objective = ma.fields.Nested(ObjectiveSchema)
    min_decisions = ma.fields.Integer()
    labels = ma.fields.List(ma.fields.Nested(LabelReportSchema))
    spot_check_backlog = ma.fields.Integer()
    spot_checks_answered = ma.fields.Integer()
    published_miss_share = ma.fields.Nested(IntervalSchema, allow_none=True)
    auto_calibrate = ma.fields.Nested(AutoCalibrateSchema)


class CalibrationEnvelopeSchema(ma.Schema):
    calibration = ma.fields.Nested(CalibrationReportSchema)


class AppliedThresholdSchema(ma.Schema):
    label = ma.fields.String()
    before = ma.fields.Float()
    after = ma.fields.Float()
    recommended = ma.fields.Float()


class LeftAloneSchema(ma.Schema):
    label = ma.fields.String()
    reason = ma.fields.String(metadata={"description": "not_enough_decisions, no_recommendation or unchanged"})
    message = ma.fields.String()


class CalibrationAppliedSchema(ma.Schema):
    applied = ma.fields.List(ma.fields.Nested(AppliedThresholdSchema))
    left_alone = ma.fields.List(ma.fields.Nested(LeftAloneSchema))
    calibration = ma.fields.Nested(CalibrationReportSchema, attribute="report")
