"""The Perspective-compatible API through HTTP, on the test model and the shared scorer: Coral's exact requests, every
request and response field, spans on multi-sentence, multi-window and non-ASCII texts, keys,
metrics per key, and doNotStore leaving no trace in the database or the logs."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text as sql

from comments import metrics
from comments.extensions import db as _db
from comments.models import AnalysisFeedback

TOXIC = "You are an idiot."
CLEAN = "Have a nice day."


def analyze(client: Any, key: str, body: dict[str, Any], **kwargs: Any) -> Any:
    return client.post(f"/v1alpha1/comments:analyze?key={key}", json=body, **kwargs)


def toxicity(response: Any) -> float:
    return response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]


def utf16_slice(text: str, begin: int, end: int) -> str:
    return text.encode("utf-16-le")[2 * begin : 2 * end].decode("utf-16-le")


# --- Coral Talk's requests, byte for byte ----------------------------------------------------------


def test_corals_analyze_request_gets_the_score_coral_reads(client, analyze_key, analyzer):
    # coralproject/talk server/src/core/server/services/perspective/perspective.ts, formatBody:
    # the endpoint's path joined with "/comments:analyze", the key in ?key=, this JSON body.
    body = json.dumps(
        {"comment": {"text": TOXIC}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}
    )
    response = client.post(
        f"/v1alpha1/comments:analyze?key={analyze_key}", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    answer = response.get_json()
    assert set(answer) == {"attributeScores", "languages"}
    assert answer["languages"] == ["en"]
    assert answer["attributeScores"]["TOXICITY"]["summaryScore"]["type"] == "PROBABILITY"
    assert toxicity(response) > 0.9  # what Coral compares with its threshold
    clean = analyze(client, analyze_key, {**json.loads(body), "comment": {"text": CLEAN}})
    assert toxicity(clean) < 0.1


def test_corals_suggestscore_request_is_stored_as_feedback(client, db, site, analyze_key):
    body = {
        "comment": {"text": TOXIC},
        "context": {
            "entries": [
                {
                    "text": json.dumps(
                        {
                            "url": "https://news.example/a/1?commentID=c-1",
                            "reply_to_id_Coral_comment_id": None,
                            "Coral_comment_id": "c-1",
                        }
                    )
                }
            ]
        },
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
        "languages": ["en"],
        "communityId": "Coral:https://news.example",
        "clientToken": "comment:c-1",
    }
    response = client.post(f"/v1alpha1/comments:suggestscore?key={analyze_key}", json=body)
    assert response.status_code == 200
    assert response.get_json() == {"clientToken": "comment:c-1"}
    row = db.session.query(AnalysisFeedback).one()
    assert row.site_id == site.id
    assert row.text == TOXIC
    assert row.attribute_scores == {"TOXICITY": {"summaryScore": {"value": 1.0}}}
    assert json.loads(row.context["entries"][0]["text"])["Coral_comment_id"] == "c-1"
    assert (row.community_id, row.client_token, row.languages) == ("Coral:https://news.example", "comment:c-1", ["en"])


# --- the request's fields ------------------------------------------------------------------------


def test_every_attribute_of_the_model_is_scored(client, analyze_key, analyzer):
    attributes = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"]
    response = analyze(
        client, analyze_key, {"comment": {"text": TOXIC}, "requestedAttributes": dict.fromkeys(attributes, {})}
    )
    assert response.status_code == 200
    scores = response.get_json()["attributeScores"]
    assert sorted(scores) == sorted(attributes)
    for entry in scores.values():
        assert 0 <= entry["summaryScore"]["value"] <= 1
        assert entry["summaryScore"]["type"] == "PROBABILITY"
        assert "spanScores" not in entry


def test_sexually_explicit_is_perspectives_400_on_a_model_without_it(client, analyze_key, analyzer):
    response = analyze(
        client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"SEXUALLY_EXPLICIT": {}}}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == "INVALID_ARGUMENT"


def test_score_threshold_leaves_out_what_is_under_it(client, analyze_key, analyzer):
    body = {
        "comment": {"text": CLEAN, "type": "PLAIN_TEXT"},
        "requestedAttributes": {
            "TOXICITY": {"scoreThreshold": 0.5, "scoreType": "PROBABILITY"},
            "INSULT": {"scoreThreshold": 0},
        },
    }
    scores = analyze(client, analyze_key, body).get_json()["attributeScores"]
    assert list(scores) == ["INSULT"]


def test_client_token_community_and_session_are_taken_and_the_token_echoed(client, analyze_key, analyzer):
    body = {
        "comment": {"text": CLEAN},
        "requestedAttributes": {"TOXICITY": {}},
        "clientToken": "req-42",
        "communityId": "my-forum",
        "sessionId": "1234567890",
        "doNotStore": False,
        "context": {"articleAndParentComment": {"article": {"text": "An article."}, "parentComment": {"text": "Hi"}}},
    }
    answer = analyze(client, analyze_key, body).get_json()
    assert answer["clientToken"] == "req-42"


def test_languages_omitted_are_detected_as_the_models_language(client, analyze_key, analyzer):
    answer = analyze(
        client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}}
    ).get_json()
    assert answer["languages"] == ["en"]
    assert answer["detectedLanguages"] == ["en"]


def test_a_language_the_model_does_not_read_is_perspectives_400(client, analyze_key, analyzer):
    body = {"comment": {"text": "Hola"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["es"]}
    response = analyze(client, analyze_key, body)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": 400,
            "message": "Attribute TOXICITY does not support request languages: es",
            "status": "INVALID_ARGUMENT",
        }
    }


# --- spans -------------------------------------------------------------------------------------


def test_span_annotations_score_each_sentence_with_utf16_offsets(client, analyze_key, analyzer):
    text = f"Have a nice day 😀. {TOXIC} {CLEAN} Café."
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True}
    spans = analyze(client, analyze_key, body).get_json()["attributeScores"]["TOXICITY"]["spanScores"]
    pieces = [utf16_slice(text, s["begin"], s["end"]) for s in spans]
    assert pieces == ["Have a nice day 😀. ", TOXIC + " ", CLEAN + " ", "Café."]
    assert spans[-1]["end"] == len(text.encode("utf-16-le")) // 2 == len(text) + 1  # the emoji is 2 units
    values = [s["score"]["value"] for s in spans]
    assert values[1] > 0.9 > 0.1 > max(values[0], values[2])
    assert all(s["score"]["type"] == "PROBABILITY" for s in spans)


def test_a_text_longer_than_a_window_is_scored_over_every_window(client, analyze_key, analyzer, classifier):
    # One "sentence" of ~1,000 tokens, the insult at its end: past the first 512-token window.
    text = "have a nice day " * 250 + "you are an idiot"
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True}
    entry = analyze(client, analyze_key, body).get_json()["attributeScores"]["TOXICITY"]
    spans = entry["spanScores"]
    assert len(spans) >= 2
    assert spans[0]["begin"] == 0 and spans[-1]["end"] == len(text)
    assert all(spans[i]["begin"] < spans[i + 1]["begin"] < spans[i]["end"] for i in range(len(spans) - 1))  # overlap
    assert spans[0]["score"]["value"] < 0.2 < 0.8 < spans[-1]["score"]["value"]
    assert text[spans[-1]["begin"] : spans[-1]["end"]].endswith("you are an idiot")
    # The summary is the pipeline's: the maximum over the windows, as the comment pipeline scores it.
    assert entry["summaryScore"]["value"] == pytest.approx(classifier.score([text])[0]["toxicity"], abs=1e-6)
    assert entry["summaryScore"]["value"] > 0.8


# --- keys ------------------------------------------------------------------------------------------


def test_the_key_may_come_as_a_bearer_token(client, analyze_key, analyzer):
    body = {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}}
    response = client.post("/v1alpha1/comments:analyze", json=body, headers={"Authorization": f"Bearer {analyze_key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("scopes", [["host"], ["moderate"], ["host", "moderate"]])
def test_a_key_without_the_analyze_scope_is_permission_denied(client, db, site, analyzer, scopes):
    from comments.services.apikeys import issue_key

    _, key = issue_key(site, "cms", scopes)
    db.session.commit()
    for method in ("analyze", "suggestscore"):
        response = client.post(f"/v1alpha1/comments:{method}?key={key}", json={})
        assert response.status_code == 403
        assert response.get_json()["error"] == {
            "code": 403,
            "message": "This API key does not have the 'analyze' scope.",
            "status": "PERMISSION_DENIED",
        }


def test_a_revoked_key_is_permission_denied(client, db, site, analyze_key, analyzer):
    from comments.services.apikeys import find_key, revoke_key

    row = find_key(analyze_key)
    revoke_key(site, row.id)
    db.session.commit()
    response = analyze(client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}})
    assert response.status_code == 403
    assert response.get_json()["error"]["status"] == "PERMISSION_DENIED"


# --- metrics per key ------------------------------------------------------------------------------


def test_requests_are_counted_per_key_method_and_status(client, analyze_key, analyzer):
    prefix = analyze_key[:12]
    from comments.services.apikeys import find_key

    prefix = find_key(analyze_key).prefix

    def count(method: str, code: str) -> float:
        labels = {"key": prefix, "method": method, "code": code}
        return metrics.registry.get_sample_value("comments_perspective_requests_total", labels) or 0.0

    before = (count("analyze", "200"), count("analyze", "400"), count("suggestscore", "200"))
    analyze(client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}})
    analyze(client, analyze_key, {"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}})
    client.post(
        f"/v1alpha1/comments:suggestscore?key={analyze_key}",
        json={"comment": {"text": "x"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}}},
    )
    after = (count("analyze", "200"), count("analyze", "400"), count("suggestscore", "200"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1]
    exposed = client.get("/metrics").get_data(as_text=True)
    assert f'comments_perspective_requests_total{{code="200",key="{prefix}",method="analyze"}}' in exposed
    assert "comments_perspective_analyze_seconds_count" in exposed


# --- doNotStore: no trace ------------------------------------------------------------------------


def _everything_stored(app: Any) -> str:
    """Every value of every row of every table, as text (on any engine), and on SQLite the
    database files' bytes themselves (the write-ahead log included)."""
    dumped = []
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            for row in conn.execute(sql(f"SELECT * FROM {table.name}")):
                dumped.append(repr(tuple(row)))
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                dumped.append(file.read_bytes().decode("utf-8", "replace"))
    return "\n".join(dumped)


@pytest.mark.parametrize("do_not_store", [True, False, None])
def test_an_analyzed_text_leaves_no_trace_in_the_database_or_the_logs(
    app, client, analyze_key, analyzer, caplog, do_not_store
):
    # By default nothing of an analyzed text is stored; doNotStore: true promises it.
    marker = "zqxjmarker" + str(do_not_store).lower()
    text = f"{TOXIC} {marker} and the rest. Second sentence {marker}."
    body: dict[str, Any] = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True}
    if do_not_store is not None:
        body["doNotStore"] = do_not_store
    caplog.set_level(logging.DEBUG)
    for sent in (body, {**body, "languages": ["xx"]}, {**body, "requestedAttributes": {"NOPE": {}}}):
        response = analyze(client, analyze_key, sent)
        assert response.status_code in (200, 400)
        assert marker not in response.headers.get("Location", "")
    # A scorer failing unexpectedly: the error is logged, the text is not.
    app.extensions["comments.analyzer"] = SimpleNamespace(analyze=lambda texts, timeout: 1 / 0)
    assert analyze(client, analyze_key, body).status_code == 500
    assert caplog.records  # the logs were captured (the failure above was logged)
    assert marker not in caplog.text
    assert marker not in _everything_stored(app)


def test_the_no_trace_check_would_see_a_stored_text(app, client, analyze_key, caplog):
    """The check above is only as good as its search: a suggested score's text is stored, and found."""
    marker = "zqxjfeedbackmarker"
    client.post(
        f"/v1alpha1/comments:suggestscore?key={analyze_key}",
        json={"comment": {"text": marker}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}}},
    )
    assert marker in _everything_stored(app)
    logging.getLogger("comments").warning("a line with %s", marker)
    assert marker in caplog.text


# --- the classifier not there --------------------------------------------------------------------


def test_with_scoring_off_analyze_is_503_unavailable_with_retry_after(client, analyze_key):
    response = analyze(client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert response.get_json()["error"]["status"] == "UNAVAILABLE"


def test_a_classifier_that_cannot_load_is_503_unavailable(app, client, analyze_key, tmp_path):
    from comments.tasks.analyzer import SharedScorer

    missing = {"CLASSIFIER_CHECKPOINT": str(tmp_path / "missing.ckpt"), "CLASSIFIER_ALLOW_UNPINNED": True}
    previous = app.extensions["comments.analyzer"]
    app.extensions["comments.analyzer"] = scorer = SharedScorer(missing)
    try:
        response = analyze(client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}})
    finally:
        app.extensions["comments.analyzer"] = previous
        scorer.stop()
    assert response.status_code == 503
    assert response.get_json()["error"] == {
        "code": 503,
        "message": "The classifier is not available right now; try again later.",
        "status": "UNAVAILABLE",
    }
    assert response.headers["Retry-After"] == "10"


class BlockedClassifier:
    """A whole-text classifier that answers only once released: a model busy past any timeout."""

    name, version, labels = "blocked", "test", ("toxicity",)

    def __init__(self) -> None:
        self.release = threading.Event()

    def score(self, texts: Any) -> list[dict[str, float]]:
        self.release.wait(10)
        return [{"toxicity": 0.5} for _ in texts]


def test_a_scorer_past_its_timeout_is_503_unavailable(app, client, analyze_key, monkeypatch):
    from comments.tasks.analyzer import EXTENSION, SharedScorer

    monkeypatch.setitem(app.config, "ANALYZE_TIMEOUT_MS", 50)
    blocked = BlockedClassifier()
    previous = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = scorer = SharedScorer({}, blocked)
    try:
        response = analyze(client, analyze_key, {"comment": {"text": CLEAN}, "requestedAttributes": {"TOXICITY": {}}})
    finally:
        blocked.release.set()
        app.extensions[EXTENSION] = previous
        scorer.stop()
    assert response.status_code == 503
    assert response.get_json()["error"] == {
        "code": 503,
        "message": "The classifier did not answer in time; try again.",
        "status": "UNAVAILABLE",
    }
    assert response.headers["Retry-After"] == "1"
