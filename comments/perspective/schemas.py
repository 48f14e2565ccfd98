"""Google's request messages (Perspective v1alpha1), field for field, as marshmallow schemas.

Unknown fields are refused, as Google's JSON parser refuses them ("Cannot find field"); types are
strict (a boolean is ``true`` or ``false``, not ``"yes"`` or 1). What the fields mean and which
values the model takes is checked in ``comments.services.analysis``.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from comments.perspective.errors import STATUS_NAMES
from comments.services.analysis import ALL_SCORE_TYPES, TEXT_TYPES
from comments.services.validation import StorableSchema

# Opaque strings a client sends (tokens, ids): suggestscore stores them in columns of this size.
OPAQUE_MAX = 500


class StrictBoolean(ma.fields.Boolean):
    """Only JSON's true and false (marshmallow's own also takes "yes", "1", 1...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _opaque() -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(max=OPAQUE_MAX))


class TextEntrySchema(ma.Schema):
    text = ma.fields.String()
    type = ma.fields.String(validate=ma.validate.OneOf(TEXT_TYPES))


class CommentSchema(TextEntrySchema):
    text = ma.fields.String(required=True)


class ArticleAndParentCommentSchema(ma.Schema):
    article = ma.fields.Nested(TextEntrySchema)
    parentComment = ma.fields.Nested(TextEntrySchema)


class ContextSchema(ma.Schema):
    entries = ma.fields.List(ma.fields.Nested(TextEntrySchema))
    articleAndParentComment = ma.fields.Nested(ArticleAndParentCommentSchema)

    @ma.validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        # Google: "Populate only ONE OF the following fields."
        if "entries" in data and "articleAndParentComment" in data:
            raise ma.ValidationError("Populate only one of entries and articleAndParentComment.")


class AttributeParametersSchema(ma.Schema):
    scoreThreshold = ma.fields.Float(allow_nan=False)
    scoreType = ma.fields.String(validate=ma.validate.OneOf(ALL_SCORE_TYPES))


class _RequestSchema(StorableSchema):
    comment = ma.fields.Nested(CommentSchema, required=True)
    context = ma.fields.Nested(ContextSchema)
    languages = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=35)))
    clientToken = _opaque()
    communityId = _opaque()
    sessionId = _opaque()


class AnalyzeCommentRequestSchema(_RequestSchema):
    requestedAttributes = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(AttributeParametersSchema), required=True
    )
    doNotStore = StrictBoolean()
    spanAnnotations = StrictBoolean()


class ScoreSchema(ma.Schema):
    value = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(0, 1))
    type = ma.fields.String(validate=ma.validate.OneOf(ALL_SCORE_TYPES))


class SpanScoreSchema(ma.Schema):
    begin = ma.fields.Integer(required=True, strict=True)
    end = ma.fields.Integer(required=True, strict=True)
    score = ma.fields.Nested(ScoreSchema, required=True)


class AttributeScoresSchema(ma.Schema):
    summaryScore = ma.fields.Nested(ScoreSchema)
    spanScores = ma.fields.List(ma.fields.Nested(SpanScoreSchema))


class SuggestCommentScoreRequestSchema(_RequestSchema):
    attributeScores = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(AttributeScoresSchema), required=True
    )


UNKNOWN_FIELD = "Unknown field."


def first_problem(messages: Any, path: str = "") -> tuple[str, str]:
    """(field path, message) of the first problem in marshmallow's nested messages, the path
    written as Google writes it (``comment.text``, ``requestedAttributes[TOXICITY].scoreType``,
    ``languages[0]``)."""
    if isinstance(messages, dict) and messages:
        name, inner = next(iter(messages.items()))
        if name == "_schema":
            return first_problem(inner, path)
        if name in ("key", "value") and isinstance(inner, dict | list) and path.endswith("]"):
            return first_problem(inner, path)  # a Dict field's key or value: its entry is named already
        if isinstance(name, int):
            return first_problem(inner, f"{path}[{name}]")
        is_field = not path or name in _FIELD_NAMES or inner == [UNKNOWN_FIELD]
        return first_problem(inner, (f"{path}.{name}" if path else str(name)) if is_field else f"{path}[{name}]")
    if isinstance(messages, list) and messages:
        return first_problem(messages[0], path)
    return path, str(messages)


_FIELD_NAMES = frozenset(
    name
    for schema in (
        AnalyzeCommentRequestSchema,
        SuggestCommentScoreRequestSchema,
        CommentSchema,
        ContextSchema,
        ArticleAndParentCommentSchema,
        AttributeParametersSchema,
        AttributeScoresSchema,
        ScoreSchema,
        SpanScoreSchema,
    )
    for name in schema._declared_fields
)


# --- the answers, for the OpenAPI document (``services.analysis.respond`` builds them) --------------


class AnalyzeCommentResponseSchema(ma.Schema):
    attributeScores = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Nested(AttributeScoresSchema),
        required=True,
        metadata={"description": "per requested attribute (one under its scoreThreshold is left out)"},
    )
    languages = ma.fields.List(ma.fields.String(), required=True)
    detectedLanguages = ma.fields.List(
        ma.fields.String(), metadata={"description": "when the request named no languages"}
    )
    clientToken = ma.fields.String(metadata={"description": "the request's, echoed"})


class SuggestCommentScoreResponseSchema(ma.Schema):
    clientToken = ma.fields.String(metadata={"description": "the request's, echoed"})


class GoogleErrorDetailSchema(ma.Schema):
    code = ma.fields.Integer(required=True, metadata={"description": "the HTTP status"})
    message = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(set(STATUS_NAMES.values()))))


class GoogleErrorSchema(ma.Schema):
    """Google's error shape (``google.rpc.Status``), not the /api/ one."""

    error = ma.fields.Nested(GoogleErrorDetailSchema, required=True)
