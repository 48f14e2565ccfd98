"""The discovery document of ``commentanalyzer`` v1alpha1, describing this service.

Google's client libraries build their ``comments().analyze()`` and ``comments().suggestscore()``
from a discovery document (google-api-python-client:
``discovery.build("commentanalyzer", "v1alpha1", discoveryServiceUrl=..., developerKey=...)``).
This one has Google's names (service, resources, methods, schemas, fields) and this server's
address as ``rootUrl``, so such a client sends its requests here. The request schemas list the
fields ``comments.perspective.schemas`` accepts (tests/perspective/test_discovery.py keeps the
two in step).
"""

from __future__ import annotations

from typing import Any

from comments.services.analysis import ALL_SCORE_TYPES, TEXT_TYPES

API_NAME = "commentanalyzer"
VERSION = "v1alpha1"


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _ref(name: str, description: str) -> dict[str, Any]:
    return {"$ref": name, "description": description}


def _map_of(name: str, description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"$ref": name}, "description": description}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


_SCORE_TYPE = {"type": "string", "enum": list(ALL_SCORE_TYPES), "description": "Only PROBABILITY is served here."}

_LANGUAGES = (
    "ISO 639-1 or BCP-47 codes; omitted: detected. Refused (400) unless the loaded model reads every one of them."
)

SCHEMAS: dict[str, dict[str, Any]] = {
    "TextEntry": {
        "type": "object",
        "description": "A text.",
        "properties": {
            "text": _string("The text, at most 20,480 bytes of UTF-8."),
            "type": {"type": "string", "enum": list(TEXT_TYPES), "description": "PLAIN_TEXT (HTML is refused)."},
        },
    },
    "ArticleAndParentComment": {
        "type": "object",
        "description": "The article a comment is about, and the comment it answers.",
        "properties": {
            "article": _ref("TextEntry", "The article."),
            "parentComment": _ref("TextEntry", "The comment this one replies to."),
        },
    },
    "Context": {
        "type": "object",
        "description": "What the comment refers to: one of entries and articleAndParentComment.",
        "properties": {
            "entries": {"type": "array", "items": {"$ref": "TextEntry"}, "description": "Earlier messages."},
            "articleAndParentComment": _ref("ArticleAndParentComment", "The article and the parent comment."),
        },
    },
    "AttributeParameters": {
        "type": "object",
        "description": "How to score one attribute.",
        "properties": {
            "scoreThreshold": {
                "type": "number",
                "format": "float",
                "description": "Scores under this value are left out of the answer.",
            },
            "scoreType": _SCORE_TYPE,
        },
    },
    "AnalyzeCommentRequest": {
        "type": "object",
        "description": "A text to score, and the attributes to score it on.",
        "properties": {
            "comment": _ref("TextEntry", "The text to score."),
            "context": _ref("Context", "The comment's context (accepted, not used)."),
            "requestedAttributes": _map_of(
                "AttributeParameters",
                "TOXICITY, SEVERE_TOXICITY, IDENTITY_ATTACK, INSULT, PROFANITY, THREAT; SEXUALLY_EXPLICIT where "
                "the loaded model has it.",
            ),
            "languages": _strings(_LANGUAGES),
            "doNotStore": {"type": "boolean", "description": "Nothing of an analysed text is ever stored here."},
            "spanAnnotations": {"type": "boolean", "description": "Scores per sentence (or per model window)."},
            "clientToken": _string("Echoed in the answer."),
            "communityId": _string("The client's community."),
            "sessionId": _string("Joins related calls."),
        },
    },
    "Score": {
        "type": "object",
        "description": "A score.",
        "properties": {
            "value": {"type": "number", "format": "float", "description": "A probability in [0, 1]."},
            "type": _SCORE_TYPE,
        },
    },
    "SpanScore": {
        "type": "object",
        "description": "The score of a part of the text.",
        "properties": {
            "begin": {"type": "integer", "format": "int32", "description": "UTF-16 offset, inclusive."},
            "end": {"type": "integer", "format": "int32", "description": "UTF-16 offset, exclusive."},
            "score": _ref("Score", "The part's score."),
        },
    },
    "AttributeScores": {
        "type": "object",
        "description": "One attribute's scores.",
        "properties": {
            "summaryScore": _ref("Score", "The whole text's score."),
            "spanScores": {"type": "array", "items": {"$ref": "SpanScore"}, "description": "Per sentence."},
        },
    },
    "AnalyzeCommentResponse": {
        "type": "object",
        "description": "The scores.",
        "properties": {
            "attributeScores": _map_of("AttributeScores", "Per requested attribute over its threshold."),
            "languages": _strings("The languages the text was scored as."),
            "detectedLanguages": _strings("The languages detected, when none were given."),
            "clientToken": _string("The request's clientToken."),
        },
    },
    "SuggestCommentScoreRequest": {
        "type": "object",
        "description": "Scores a client suggests for a text, kept as feedback for the key's site.",
        "properties": {
            "comment": _ref("TextEntry", "The text."),
            "context": _ref("Context", "The comment's context (kept with it)."),
            "attributeScores": _map_of("AttributeScores", "The suggested scores (0 or 1 for a yes or no)."),
            "languages": _strings("The text's languages."),
            "clientToken": _string("Echoed in the answer."),
            "communityId": _string("The client's community."),
            "sessionId": _string("Joins related calls."),
        },
    },
    "SuggestCommentScoreResponse": {
        "type": "object",
        "description": "The feedback was kept.",
        "properties": {"clientToken": _string("The request's clientToken.")},
    },
}

_QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "key": {"type": "string", "location": "query", "description": "An API key of the site with the analyze scope."},
    "alt": {"type": "string", "location": "query", "default": "json", "enum": ["json"], "description": "JSON."},
    "prettyPrint": {"type": "boolean", "location": "query", "default": "true", "description": "Ignored."},
    "fields": {"type": "string", "location": "query", "description": "Ignored: answers are whole."},
    "quotaUser": {"type": "string", "location": "query", "description": "Ignored: quotas are per key."},
    "$.xgafv": {"type": "string", "location": "query", "enum": ["1", "2"], "description": "Ignored."},
    "access_token": {"type": "string", "location": "query", "description": "Ignored."},
    "callback": {"type": "string", "location": "query", "description": "Ignored."},
    "oauth_token": {"type": "string", "location": "query", "description": "Ignored."},
    "uploadType": {"type": "string", "location": "query", "description": "Ignored."},
    "upload_protocol": {"type": "string", "location": "query", "description": "Ignored."},
}


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    path = f"{VERSION}/comments:{name}"
    return {
        "id": f"{API_NAME}.comments.{name}",
        "path": path,
        "flatPath": path,
        "httpMethod": "POST",
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": request},
        "response": {"$ref": response},
        "description": description,
    }


def document(root_url: str) -> dict[str, Any]:
    """The discovery document, with ``root_url`` (ending in "/") where the methods are."""
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{API_NAME}:{VERSION}",
        "name": API_NAME,
        "version": VERSION,
        "revision": "1",
        "title": "Perspective Comment Analyzer API (served by this comment service's classifier)",
        "description": "Google's Perspective API protocol, answered with this service's Detoxify classifier.",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": _QUERY_PARAMETERS,
        "schemas": {name: {"id": name, **schema} for name, schema in SCHEMAS.items()},
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method(
                        "analyze",
                        "AnalyzeCommentRequest",
                        "AnalyzeCommentResponse",
                        "Scores a text for the requested attributes.",
                    ),
                    "suggestscore": _method(
                        "suggestscore",
                        "SuggestCommentScoreRequest",
                        "SuggestCommentScoreResponse",
                        "Keeps scores a client suggests for a text, as feedback.",
                    ),
                }
            }
        },
    }
