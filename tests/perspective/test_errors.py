"""Every bad request answered in Google's error shape, ``{"error": {"code", "message", "status"}}``,
with Google's statuses, and never a 500."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

GOOD = {"comment": {"text": "Have a nice day."}, "requestedAttributes": {"TOXICITY": {}}}
GOOD_SUGGESTION = {
    "comment": {"text": "Have a nice day."},
    "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}},
}


def google_error(response: Any, code: int, status: str) -> str:
    """The message, once the answer is checked to be exactly Google's shape."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == code
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(base))
    body.update(changes)
    return body


BAD_ANALYZE_BODIES = [
    # (id, body, a piece of the message)
    ("empty text", with_changes(GOOD, comment={"text": ""}), "Comment must be non-empty."),
    ("blank text", with_changes(GOOD, comment={"text": "   \n"}), "Comment must be non-empty."),
    ("text over 20 KB", with_changes(GOOD, comment={"text": "a" * 20_481}), "too long"),
    ("html", with_changes(GOOD, comment={"text": "<b>hi</b>", "type": "HTML"}), "HTML"),
    ("unknown text type", with_changes(GOOD, comment={"text": "hi", "type": "MARKDOWN"}), "comment.type"),
    ("no comment", {"requestedAttributes": {"TOXICITY": {}}}, "Invalid value at 'comment'"),
    ("no text", with_changes(GOOD, comment={}), "Invalid value at 'comment.text'"),
    ("text not a string", with_changes(GOOD, comment={"text": 5}), "Invalid value at 'comment.text'"),
    ("comment not an object", with_changes(GOOD, comment="hi"), "Invalid value at 'comment'"),
    ("no attributes", {"comment": {"text": "hi"}}, "requestedAttributes"),
    ("empty attributes", with_changes(GOOD, requestedAttributes={}), "must not be empty"),
    ("unknown attribute", with_changes(GOOD, requestedAttributes={"TOXICITYY": {}}), "Unknown attribute: TOXICITYY"),
    ("attributes a list", with_changes(GOOD, requestedAttributes=["TOXICITY"]), "requestedAttributes"),
    ("parameters not an object", with_changes(GOOD, requestedAttributes={"TOXICITY": 1}), "requestedAttributes"),
    (
        "threshold a string",
        with_changes(GOOD, requestedAttributes={"TOXICITY": {"scoreThreshold": "high"}}),
        "requestedAttributes[TOXICITY].scoreThreshold",
    ),
    (
        "threshold out of range",
        with_changes(GOOD, requestedAttributes={"TOXICITY": {"scoreThreshold": 2}}),
        "between 0 and 1",
    ),
    (
        "unknown score type",
        with_changes(GOOD, requestedAttributes={"TOXICITY": {"scoreType": "LOUDNESS"}}),
        "scoreType",
    ),
    (
        "unsupported score type",
        with_changes(GOOD, requestedAttributes={"TOXICITY": {"scoreType": "STD_DEV_SCORE"}}),
        "STD_DEV_SCORE",
    ),
    ("unsupported language", with_changes(GOOD, languages=["de"]), "does not support request languages: de"),
    ("languages a string", with_changes(GOOD, languages="en"), "Invalid value at 'languages'"),
    ("a language not a string", with_changes(GOOD, languages=["en", 7]), "Invalid value at 'languages[1]'"),
    ("doNotStore a string", with_changes(GOOD, doNotStore="true"), "Invalid value at 'doNotStore'"),
    ("doNotStore a number", with_changes(GOOD, doNotStore=1), "Invalid value at 'doNotStore'"),
    ("spanAnnotations a string", with_changes(GOOD, spanAnnotations="yes"), "Invalid value at 'spanAnnotations'"),
    ("clientToken a number", with_changes(GOOD, clientToken=5), "Invalid value at 'clientToken'"),
    ("communityId a list", with_changes(GOOD, communityId=[]), "Invalid value at 'communityId'"),
    ("sessionId an object", with_changes(GOOD, sessionId={}), "Invalid value at 'sessionId'"),
    ("unknown field", with_changes(GOOD, colour="red"), 'Unknown name "colour": Cannot find field.'),
    (
        "unknown nested field",
        with_changes(GOOD, comment={"text": "hi", "lang": "en"}),
        "Unknown name \"lang\" at 'comment': Cannot find field.",
    ),
    ("lone surrogate", with_changes(GOOD, comment={"text": "hi \ud800"}), "comment.text"),
    ("NUL", with_changes(GOOD, comment={"text": "hi \x00"}), "comment.text"),
    (
        "context with both kinds",
        with_changes(GOOD, context={"entries": [], "articleAndParentComment": {}}),
        "only one of",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [p[1:] for p in BAD_ANALYZE_BODIES], ids=[p[0] for p in BAD_ANALYZE_BODIES]
)
def test_bad_analyze_requests_are_invalid_argument(client, analyze_key, analyzer, body, message):
    response = client.post(f"/v1alpha1/comments:analyze?key={analyze_key}", json=body)
    assert message in google_error(response, 400, "INVALID_ARGUMENT")


BAD_SUGGESTIONS = [
    ("empty text", with_changes(GOOD_SUGGESTION, comment={"text": ""}), "Comment must be non-empty."),
    ("text over 20 KB", with_changes(GOOD_SUGGESTION, comment={"text": "é" * 10_241}), "too long"),
    ("no scores", {"comment": {"text": "hi"}}, "attributeScores"),
    ("empty scores", with_changes(GOOD_SUGGESTION, attributeScores={}), "must not be empty"),
    ("an empty entry", with_changes(GOOD_SUGGESTION, attributeScores={"TOXICITY": {}}), "must not be empty"),
    (
        "unknown attribute",
        with_changes(GOOD_SUGGESTION, attributeScores={"RUDE": {"summaryScore": {"value": 1}}}),
        "Unknown attribute: RUDE",
    ),
    (
        "value missing",
        with_changes(GOOD_SUGGESTION, attributeScores={"TOXICITY": {"summaryScore": {}}}),
        "attributeScores[TOXICITY].summaryScore.value",
    ),
    (
        "value over 1",
        with_changes(GOOD_SUGGESTION, attributeScores={"TOXICITY": {"summaryScore": {"value": 2}}}),
        "summaryScore.value",
    ),
    (
        "value a string",
        with_changes(GOOD_SUGGESTION, attributeScores={"TOXICITY": {"summaryScore": {"value": "bad"}}}),
        "summaryScore.value",
    ),
    (
        "span without end",
        with_changes(
            GOOD_SUGGESTION, attributeScores={"TOXICITY": {"spanScores": [{"begin": 0, "score": {"value": 1}}]}}
        ),
        "spanScores[0].end",
    ),
    (
        "span past the text",
        with_changes(
            GOOD_SUGGESTION,
            attributeScores={"TOXICITY": {"spanScores": [{"begin": 0, "end": 99, "score": {"value": 1}}]}},
        ),
        "not inside the text",
    ),
    (
        "span offset a float",
        with_changes(
            GOOD_SUGGESTION,
            attributeScores={"TOXICITY": {"spanScores": [{"begin": 0.5, "end": 3, "score": {"value": 1}}]}},
        ),
        "spanScores[0].begin",
    ),
    ("clientToken too long", with_changes(GOOD_SUGGESTION, clientToken="t" * 501), "clientToken"),
    ("unknown field", with_changes(GOOD_SUGGESTION, doNotStore=True), 'Unknown name "doNotStore"'),
    ("NUL in context", with_changes(GOOD_SUGGESTION, context={"entries": [{"text": "a\x00"}]}), "context"),
]


@pytest.mark.parametrize(("body", "message"), [p[1:] for p in BAD_SUGGESTIONS], ids=[p[0] for p in BAD_SUGGESTIONS])
def test_bad_suggestions_are_invalid_argument_and_store_nothing(client, db, analyze_key, body, message):
    from comments.models import AnalysisFeedback

    response = client.post(f"/v1alpha1/comments:suggestscore?key={analyze_key}", json=body)
    assert message in google_error(response, 400, "INVALID_ARGUMENT")
    assert db.session.query(AnalysisFeedback).count() == 0


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b"[1, 2]", b'"text"', b"null", b"\xff\xfe{}", b"{" * 5000 + b"}" * 5000, b"NaN"],
    ids=["empty", "truncated", "words", "a list", "a string", "null", "not utf-8", "nested deep", "NaN"],
)
@pytest.mark.parametrize("method", ["analyze", "suggestscore"])
def test_a_body_that_is_not_a_json_object_is_invalid_argument(client, analyze_key, analyzer, raw, method):
    response = client.post(
        f"/v1alpha1/comments:{method}?key={analyze_key}", data=raw, headers={"Content-Type": "application/json"}
    )
    assert "Invalid JSON payload received" in google_error(response, 400, "INVALID_ARGUMENT")


def test_a_body_over_the_request_limit_is_invalid_argument(client, analyze_key, analyzer):
    body = json.dumps(with_changes(GOOD, comment={"text": "a" * 70_000}))
    response = client.post(
        f"/v1alpha1/comments:analyze?key={analyze_key}", data=body, headers={"Content-Type": "application/json"}
    )
    assert "exceeds the limit" in google_error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("method", ["analyze", "suggestscore"])
@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?key=", {}),
        ("?key=AIzaSyNotOurs", {}),
        ("?key=cmk_wrongwrongwrongwrongwrongwrongwrongwrong", {}),
        ("", {"Authorization": "Bearer cmk_wrong"}),
        ("", {"Authorization": "Basic abc"}),
    ],
    ids=["no key", "empty key", "a google key", "unknown key", "unknown bearer", "not bearer"],
)
def test_a_missing_or_wrong_key_is_permission_denied(client, site, analyzer, method, query, headers):
    response = client.post(f"/v1alpha1/comments:{method}{query}", json=GOOD, headers=headers)
    message = google_error(response, 403, "PERMISSION_DENIED")
    sent = "key=" in query and query != "?key=" or headers.get("Authorization", "").startswith("Bearer")
    assert message == (
        "API key not valid. Please pass a valid API key." if sent else "The request is missing a valid API key."
    )


def test_wrong_keys_past_the_failure_budget_are_resource_exhausted(app, client, site, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_API_KEY_FAILURES", "3 per minute")
    statuses = [client.post("/v1alpha1/comments:analyze?key=cmk_guess", json=GOOD).status_code for _ in range(5)]
    assert statuses == [403, 403, 403, 429, 429]
    response = client.post("/v1alpha1/comments:analyze?key=cmk_guess", json=GOOD)
    google_error(response, 429, "RESOURCE_EXHAUSTED")
    assert int(response.headers["Retry-After"]) > 0


def test_a_key_over_its_quota_is_resource_exhausted_and_other_keys_are_not(
    app, client, db, site, analyze_key, analyzer, monkeypatch
):
    from comments.services.apikeys import issue_key

    monkeypatch.setitem(app.config, "RATELIMIT_ANALYZE", "3 per minute")
    _, other_key = issue_key(site, "other", ["analyze"])
    db.session.commit()
    statuses = [client.post(f"/v1alpha1/comments:analyze?key={analyze_key}", json=GOOD).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    over = client.post(f"/v1alpha1/comments:suggestscore?key={analyze_key}", json=GOOD_SUGGESTION)
    assert "Quota exceeded" in google_error(over, 429, "RESOURCE_EXHAUSTED")
    assert 0 < int(over.headers["Retry-After"]) <= 60
    # The same key as a bearer token draws on the same quota; another key has its own.
    bearer = client.post("/v1alpha1/comments:analyze", json=GOOD, headers={"Authorization": f"Bearer {analyze_key}"})
    assert bearer.status_code == 429
    assert client.post(f"/v1alpha1/comments:analyze?key={other_key}", json=GOOD).status_code == 200


@pytest.mark.parametrize("http_method", ["GET", "PUT", "DELETE", "PATCH"])
def test_another_http_method_is_answered_in_googles_shape(client, http_method):
    response = client.open("/v1alpha1/comments:analyze", method=http_method)
    google_error(response, 405, "INVALID_ARGUMENT")


def test_an_unknown_method_is_not_found_in_googles_shape(client):
    google_error(client.post("/v1alpha1/comments:classify", json=GOOD), 404, "NOT_FOUND")


def test_google_query_parameters_are_accepted(client, analyze_key, analyzer):
    response = client.post(
        f"/v1alpha1/comments:analyze?key={analyze_key}&alt=json&prettyPrint=false&quotaUser=u1&$.xgafv=2", json=GOOD
    )
    assert response.status_code == 200


def test_random_bodies_never_make_a_500(app, client, analyze_key, analyzer, monkeypatch):
    """Mutations of valid requests: every answer is a 200 or Google's 400."""
    monkeypatch.setitem(app.config, "RATELIMIT_ANALYZE", "10000 per minute")
    rng = random.Random(16)
    values: list[Any] = [
        None,
        True,
        0,
        -1,
        1.5,
        1e308,
        "",
        "x",
        "TOXICITY",
        [],
        [1],
        {},
        {"text": "x"},
        "\u00e9\U0001f600",
    ]
    fields = [
        "comment",
        "text",
        "type",
        "requestedAttributes",
        "languages",
        "scoreThreshold",
        "scoreType",
        "doNotStore",
        "spanAnnotations",
        "attributeScores",
        "summaryScore",
        "value",
        "spanScores",
        "begin",
        "end",
        "context",
    ]

    def mutate(node: Any, depth: int = 0) -> Any:
        if isinstance(node, dict):
            node = {k: mutate(v, depth + 1) for k, v in node.items()}
            roll = rng.random()
            if roll < 0.2 and node:
                node.pop(rng.choice(list(node)))
            elif roll < 0.4:
                node[rng.choice(fields)] = rng.choice(values)
            return node
        if rng.random() < 0.25:
            return rng.choice(values)
        return node

    base = with_changes(GOOD, spanAnnotations=True, languages=["en"])
    for _ in range(120):
        for method, body in (("analyze", base), ("suggestscore", GOOD_SUGGESTION)):
            response = client.post(f"/v1alpha1/comments:{method}?key={analyze_key}", json=mutate(body))
            assert response.status_code in (200, 400), response.get_data(as_text=True)
            if response.status_code == 400:
                google_error(response, 400, "INVALID_ARGUMENT")
