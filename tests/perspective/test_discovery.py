"""The discovery document: Google's own client library (google-api-python-client) built from it,
unchanged but for ``discoveryServiceUrl``, scores and suggests through this service; its request
schemas list exactly the fields the service accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comments.models import AnalysisFeedback
from comments.perspective import discovery, schemas

googleapiclient = pytest.importorskip("googleapiclient.discovery")
from googleapiclient.errors import HttpError  # noqa: E402


def perspective_client(base_url: str, key: str) -> Any:
    return googleapiclient.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=f"{base_url}/$discovery/rest?version={{apiVersion}}",
        static_discovery=False,
        cache_discovery=False,
    )


def test_googles_python_client_analyzes_through_the_discovery_document(live_server, analyze_key, analyzer):
    client = perspective_client(live_server, analyze_key)
    request = {
        "comment": {"text": "You are an idiot. Have a nice day."},
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
        "spanAnnotations": True,
        "clientToken": "abc",
    }
    answer = client.comments().analyze(body=request).execute()
    assert answer["clientToken"] == "abc"
    assert answer["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.9
    assert [(s["begin"], s["end"]) for s in answer["attributeScores"]["INSULT"]["spanScores"]] == [(0, 18), (18, 34)]


def test_googles_python_client_suggests_scores(live_server, db, analyze_key):
    client = perspective_client(live_server, analyze_key)
    body = {"comment": {"text": "fine words"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}}}
    assert client.comments().suggestscore(body=body).execute() == {}
    db.session.expire_all()
    assert db.session.query(AnalysisFeedback).one().text == "fine words"


def test_googles_python_client_reads_our_errors(live_server, analyze_key, analyzer):
    client = perspective_client(live_server, analyze_key)
    with pytest.raises(HttpError) as raised:
        client.comments().analyze(body={"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}).execute()
    assert raised.value.status_code == 400
    assert raised.value.reason == "Comment must be non-empty."
    assert json.loads(raised.value.content)["error"]["status"] == "INVALID_ARGUMENT"
    wrong = perspective_client(live_server, "cmk_not-a-key")
    with pytest.raises(HttpError) as raised:
        wrong.comments().analyze(body={"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}).execute()
    assert raised.value.status_code == 403


def test_the_document_names_this_server_and_googles_methods(client):
    document = client.get("/$discovery/rest?version=v1alpha1", base_url="https://comments.example").get_json()
    assert (document["name"], document["version"], document["rootUrl"]) == (
        "commentanalyzer",
        "v1alpha1",
        "https://comments.example/",
    )
    methods = document["resources"]["comments"]["methods"]
    assert methods["analyze"]["path"] == "v1alpha1/comments:analyze"
    assert methods["suggestscore"]["httpMethod"] == "POST"
    assert client.get("/$discovery/rest").status_code == 200  # version defaults to the only one


def test_another_version_is_not_found(client):
    response = client.get("/$discovery/rest?version=v1")
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("schema", "name"),
    [
        (schemas.AnalyzeCommentRequestSchema, "AnalyzeCommentRequest"),
        (schemas.SuggestCommentScoreRequestSchema, "SuggestCommentScoreRequest"),
        (schemas.TextEntrySchema, "TextEntry"),
        (schemas.ContextSchema, "Context"),
        (schemas.ArticleAndParentCommentSchema, "ArticleAndParentComment"),
        (schemas.AttributeParametersSchema, "AttributeParameters"),
        (schemas.AttributeScoresSchema, "AttributeScores"),
        (schemas.ScoreSchema, "Score"),
        (schemas.SpanScoreSchema, "SpanScore"),
    ],
)
def test_the_documents_request_schemas_are_the_fields_the_service_accepts(schema, name):
    assert set(discovery.SCHEMAS[name]["properties"]) == set(schema._declared_fields)
