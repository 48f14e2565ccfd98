"""The Perspective-compatible routes in the OpenAPI document: listed, with Google's shapes, and
their real answers (200s and errors alike) are what the document says."""

from __future__ import annotations

import pytest

from comments.perspective.errors import STATUS_NAMES
from tests.helpers import answer_conforms, conforms

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
DISCOVERY = "/$discovery/rest"


@pytest.fixture()
def spec(client):
    return client.get("/api/v1/openapi.json").json


def test_the_document_lists_the_perspective_routes_with_googles_shapes(spec):
    assert {"post"} == set(spec["paths"][ANALYZE]) == set(spec["paths"][SUGGEST])
    assert "get" in spec["paths"][DISCOVERY]
    schemas = spec["components"]["schemas"]
    for path, request, response in (
        (ANALYZE, "AnalyzeCommentRequest", "AnalyzeCommentResponse"),
        (SUGGEST, "SuggestCommentScoreRequest", "SuggestCommentScoreResponse"),
    ):
        operation = spec["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{request}")
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{response}")
        for status in ("400", "403", "429", "503"):
            error = operation["responses"][status]["content"]["application/json"]["schema"]
            assert error["$ref"].endswith("/PerspectiveError")
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        assert operation["security"] == [{"perspectiveKey": []}, {"siteApiKey": []}]
    assert schemas["AnalyzeCommentRequest"]["required"] == ["comment", "requestedAttributes"]
    assert schemas["PerspectiveErrorDetail"]["properties"]["status"]["enum"] == sorted(set(STATUS_NAMES.values()))
    assert spec["components"]["securitySchemes"]["perspectiveKey"] == {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": spec["components"]["securitySchemes"]["perspectiveKey"]["description"],
    }
    # The API's own comment keeps its name: Google's messages have names of their own.
    assert "body" in schemas["Comment"]["properties"] and "text" in schemas["PerspectiveComment"]["properties"]


def test_the_document_describes_every_request_field_the_views_take(spec):
    from comments.perspective.schemas import AnalyzeCommentRequestSchema, SuggestCommentScoreRequestSchema

    schemas = spec["components"]["schemas"]
    assert set(schemas["AnalyzeCommentRequest"]["properties"]) == set(AnalyzeCommentRequestSchema().fields)
    assert set(schemas["SuggestCommentScoreRequest"]["properties"]) == set(SuggestCommentScoreRequestSchema().fields)


def test_the_answers_are_what_the_document_describes(client, analyze_key, analyzer, spec):
    request = {
        "comment": {"text": "You are an idiot. Thanks for the article."},
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {"scoreThreshold": 0.0}},
        "spanAnnotations": True,
        "clientToken": "t-1",
    }
    conforms(spec, spec["components"]["schemas"]["AnalyzeCommentRequest"], request, "request")
    scored = client.post(f"{ANALYZE}?key={analyze_key}", json=request)
    assert scored.status_code == 200
    assert scored.json["attributeScores"]["TOXICITY"]["spanScores"]  # the nested parts are checked too
    answer_conforms(client, scored, ANALYZE, "post")
    detected = client.post(f"{ANALYZE}?key={analyze_key}", json={**request, "spanAnnotations": False})
    assert "detectedLanguages" in detected.json
    answer_conforms(client, detected, ANALYZE, "post")
    suggestion = {"comment": {"text": "x"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}
    suggested = client.post(f"{SUGGEST}?key={analyze_key}", json={**suggestion, "clientToken": "c"})
    assert suggested.status_code == 200
    answer_conforms(client, suggested, SUGGEST, "post")
    for response, path in (
        (client.post(f"{ANALYZE}?key={analyze_key}", json={"comment": {"text": ""}}), ANALYZE),
        (client.post(f"{ANALYZE}?key=cmk_wrong", json=request), ANALYZE),
        (client.post(f"{SUGGEST}?key={analyze_key}", json={"comment": {"text": "x"}, "nope": 1}), SUGGEST),
    ):
        assert response.status_code in (400, 403)
        answer_conforms(client, response, path, "post")
    assert client.get(f"{DISCOVERY}?version=v1alpha1").status_code == 200


def test_with_no_classifier_the_503_is_what_the_document_describes(client, analyze_key):
    response = client.post(
        f"{ANALYZE}?key={analyze_key}", json={"comment": {"text": "x"}, "requestedAttributes": {"TOXICITY": {}}}
    )
    assert response.status_code == 503 and response.headers["Retry-After"]
    answer_conforms(client, response, ANALYZE, "post")


def test_the_checker_refuses_an_analyze_answer_unlike_the_document(spec):
    described = spec["components"]["schemas"]["AnalyzeCommentResponse"]
    good = {"attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.5, "type": "PROBABILITY"}}}, "languages": []}
    conforms(spec, described, good, "ok")
    with pytest.raises(AssertionError):
        conforms(spec, described, {**good, "attributeScores": {"TOXICITY": {"summaryScore": {"value": "high"}}}}, "x")
    with pytest.raises(AssertionError):
        conforms(spec, described, {**good, "extra": 1}, "undeclared")
