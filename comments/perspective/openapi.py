"""The Perspective-compatible routes in the OpenAPI document (``/api/v1/openapi.json``).

They are served by a plain blueprint (``views``: Google's paths, Google's error shape), not by
flask-smorest's, so they are described here: the request schemas the views load with, the answers
``services.analysis`` builds, and Google's error shape for every status they answer with.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from comments.perspective import schemas
from comments.perspective.errors import STATUS_NAMES, UNAVAILABLE_RETRY_SECONDS
from comments.services.analysis import MAX_TEXT_BYTES

TAG = "perspective"
KEY_SCHEME = "perspectiveKey"
#: the host API's bearer scheme (``comments.api.host``): a key may come either way
BEARER_SCHEME = "siteApiKey"

# Component names: Google's message names, prefixed where ours would clash (the API's "Comment").
_COMPONENTS: tuple[tuple[str, type], ...] = (
    ("PerspectiveTextEntry", schemas.TextEntrySchema),
    ("PerspectiveComment", schemas.CommentSchema),
    ("PerspectiveArticleAndParentComment", schemas.ArticleAndParentCommentSchema),
    ("PerspectiveContext", schemas.ContextSchema),
    ("PerspectiveAttributeParameters", schemas.AttributeParametersSchema),
    ("PerspectiveScore", schemas.ScoreSchema),
    ("PerspectiveSpanScore", schemas.SpanScoreSchema),
    ("PerspectiveAttributeScores", schemas.AttributeScoresSchema),
    ("AnalyzeCommentRequest", schemas.AnalyzeCommentRequestSchema),
    ("AnalyzeCommentResponse", schemas.AnalyzeCommentResponseSchema),
    ("SuggestCommentScoreRequest", schemas.SuggestCommentScoreRequestSchema),
    ("SuggestCommentScoreResponse", schemas.SuggestCommentScoreResponseSchema),
    ("PerspectiveErrorDetail", schemas.GoogleErrorDetailSchema),
    ("PerspectiveError", schemas.GoogleErrorSchema),
)

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _error(status: int, when: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": f"{STATUS_NAMES[status]}: {when}", "content": _json("PerspectiveError")}
    if retry_after:
        response["headers"] = _RETRY_AFTER
    return response


def _errors() -> dict[str, Any]:
    return {
        "400": _error(
            400,
            "broken JSON, an unknown field, a wrong type, an empty text or one over "
            f"{MAX_TEXT_BYTES} bytes of UTF-8, an unknown attribute or score type, a language the model does not read",
        ),
        "403": _error(403, "a missing or wrong key, or a key without the analyze scope"),
        "429": _error(429, "over the key's quota (COMMENTS_RATELIMIT_ANALYZE)", retry_after=True),
        "503": _error(
            503,
            "the classifier is not loaded (yet: the first call starts loading it; "
            f"Retry-After {UNAVAILABLE_RETRY_SECONDS}) or did not answer in time",
            retry_after=True,
        ),
    }


def _operation(summary: str, description: str, request: str, response: str) -> dict[str, Any]:
    return {
        "tags": [TAG],
        "summary": summary,
        "description": description,
        "security": [{KEY_SCHEME: []}, {BEARER_SCHEME: []}],
        "requestBody": {"required": True, "content": _json(request)},
        "responses": {"200": {"description": "OK", "content": _json(response)}, **_errors()},
    }


def register(api: Any, app: Flask) -> None:
    """Add the routes of ``comments.perspective.views`` (registered on ``app`` already) to
    ``api``'s (flask-smorest's) document, each at its own rule's path."""
    spec = api.spec
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("perspective.")}
    # Nested schemas first, so that each is a reference under its own name, not one the
    # marshmallow plugin would derive ("Comment", taken by the API's comment).
    for name, schema in _COMPONENTS:
        spec.components.schema(name, schema=schema)
    spec.components.security_scheme(
        KEY_SCHEME,
        {
            "type": "apiKey",
            "in": "query",
            "name": "key",
            "description": "A site API key with the `analyze` scope (Google's `?key=`; also taken as a bearer token).",
        },
    )
    spec.tag(
        {
            "name": TAG,
            "description": "Google's Perspective API (v1alpha1) protocol, for its clients (Coral Talk, Google's "
            "client libraries): Google's field names and error shape, not this API's.",
        }
    )
    spec.path(
        rule=rules["perspective.analyze"],
        operations={
            "post": _operation(
                "Score a text, as Perspective's comments:analyze",
                "Nothing of the text is stored or logged.",
                "AnalyzeCommentRequest",
                "AnalyzeCommentResponse",
            )
        },
    )
    spec.path(
        rule=rules["perspective.suggestscore"],
        operations={
            "post": _operation(
                "Suggest a text's scores, as Perspective's comments:suggestscore",
                "Stored for the key's site (text, scores, context, ids) for COMMENTS_ANALYSIS_FEEDBACK_DAYS.",
                "SuggestCommentScoreRequest",
                "SuggestCommentScoreResponse",
            )
        },
    )
    spec.path(
        rule=rules["perspective.discovery_document"],
        operations={
            "get": {
                "tags": [TAG],
                "summary": "The discovery document of commentanalyzer v1alpha1",
                "description": "For Google's client libraries (`discoveryServiceUrl`).",
                "parameters": [
                    {"name": "version", "in": "query", "schema": {"type": "string", "enum": ["v1alpha1"]}},
                ],
                "responses": {
                    "200": {
                        "description": "Google's discovery format",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "404": _error(404, "another version"),
                },
            }
        },
    )
