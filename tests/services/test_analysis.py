"""analysis: Perspective's attributes, languages, offsets and sentences, thresholds, feedback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from comments.models import AnalysisFeedback
from comments.services import analysis
from comments.services.errors import Invalid


@dataclass
class FakeSpan:
    begin: int
    end: int
    scores: dict[str, float]


@dataclass
class FakeAnalysis:
    summary: dict[str, float]
    spans: list[FakeSpan] = field(default_factory=list)


def scores(value: float) -> dict[str, float]:
    return dict.fromkeys(("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"), value)


def request(text: str = "Hello there.", **extra: Any) -> dict[str, Any]:
    return {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, **extra}


# --- attributes -------------------------------------------------------------------------------


def test_every_perspective_attribute_maps_to_a_detoxify_label():
    assert analysis.model_attributes("original") == (
        "TOXICITY",
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "INSULT",
        "PROFANITY",
        "THREAT",
    )
    assert analysis.ATTRIBUTE_LABELS["PROFANITY"] == "obscene"
    for model_type in ("unbiased", "multilingual"):
        assert "SEXUALLY_EXPLICIT" in analysis.model_attributes(model_type)


def test_sexually_explicit_is_refused_where_the_model_lacks_it():
    body = {"comment": {"text": "hi"}, "requestedAttributes": {"SEXUALLY_EXPLICIT": {}}}
    with pytest.raises(Invalid, match="SEXUALLY_EXPLICIT does not exist"):
        analysis.prepare(body, model_type="original")
    assert analysis.prepare(body, model_type="unbiased").thresholds == {"SEXUALLY_EXPLICIT": None}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (request(""), "Comment must be non-empty."),
        (request(" \n\t"), "Comment must be non-empty."),
        (request("é" * 10_241), "too long: 20482 bytes"),
        ({"comment": {"text": "<p>hi</p>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}, "HTML"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {}}, "must not be empty"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITYY": {}}}, "Unknown attribute: TOXICITYY"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "PERCENTILE"}}}, "PERCENTILE"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 1.5}}}, "between 0 and 1"),
        (request(languages=["de"]), "Attribute TOXICITY does not support request languages: de"),
        (request(languages=["en", "fr"]), "does not support request languages: fr"),
    ],
)
def test_what_perspective_refuses_is_refused_with_its_message(body, message):
    with pytest.raises(Invalid, match=message) as raised:
        analysis.prepare(body, model_type="original")
    assert raised.value.code == "invalid_argument"


def test_the_size_limit_is_20480_bytes_of_utf8_not_characters():
    assert analysis.prepare(request("a" * 20_480), model_type="original").text == "a" * 20_480
    with pytest.raises(Invalid):
        analysis.prepare(request("a" * 20_481), model_type="original")
    with pytest.raises(Invalid):
        analysis.prepare(request("€" * 6_827), model_type="original")  # 20,481 bytes in 6,827 characters


# --- languages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "language"), [("en", "en"), ("en-US", "en"), ("EN", "en"), ("pt_BR", "pt")])
def test_iso_and_bcp47_codes_name_the_language(code, language):
    assert analysis.normalise_language(code) == language


def test_an_english_model_assumes_english_and_says_so_in_detected_languages():
    plan = analysis.prepare(request("Ceci est un texte en français."), model_type="original")
    assert plan.languages == ["en"]
    assert plan.detected_languages == ["en"]


def test_given_languages_are_used_and_nothing_is_detected():
    plan = analysis.prepare(request(languages=["en-GB"]), model_type="original")
    assert plan.languages == ["en"]
    assert plan.detected_languages is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("This is what you said and it is not true.", "en"),
        ("Ceci est la vérité et vous ne le savez pas.", "fr"),
        ("Esto es lo que dijiste y no es verdad para los demás.", "es"),
        ("Questo è quello che hai detto e non è vero per gli altri.", "it"),
        ("Isso é o que você disse e não é verdade para os outros.", "pt"),
        ("Это неправда, и ты это знаешь.", "ru"),
        ("Bu doğru değil ve sen bunu çok iyi biliyorsun.", "tr"),
    ],
)
def test_the_multilingual_model_detects_its_seven_languages(text, language):
    plan = analysis.prepare(request(text), model_type="multilingual")
    assert plan.detected_languages is not None
    assert plan.detected_languages[0] == language
    assert plan.languages == [language]


def test_a_text_without_known_words_is_taken_as_the_models_first_language():
    assert analysis.detect_languages("12345 !!!", analysis.MODEL_LANGUAGES["multilingual"]) == ["en"]


def test_the_multilingual_model_takes_its_languages_and_refuses_others():
    assert analysis.prepare(request(languages=["fr", "ru"]), model_type="multilingual").languages == ["fr", "ru"]
    with pytest.raises(Invalid, match="languages: de"):
        analysis.prepare(request(languages=["de"]), model_type="multilingual")


# --- offsets and sentences ------------------------------------------------------------------------


def test_utf16_offsets_count_characters_outside_the_bmp_twice():
    assert analysis.utf16_offsets("ab") == [0, 1, 2]
    assert analysis.utf16_offsets("é😀x") == [0, 1, 3, 4]  # é is one unit, the emoji two
    assert analysis.utf16_offsets("") == [0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One sentence", ["One sentence"]),
        ("First one. Second one! Third?", ["First one. ", "Second one! ", "Third?"]),
        ("Ends here.  ", ["Ends here.  "]),
        ("Line one\nLine two", ["Line one\n", "Line two"]),
        ("Wait... what?! Yes.", ["Wait... ", "what?! ", "Yes."]),
        ('He said "no." Then left.', ['He said "no." ', "Then left."]),
        ("3.14 is pi", ["3.14 is pi"]),
        ("你好。再见。", ["你好。", "再见。"]),
    ],
)
def test_sentences_tile_the_text(text, expected):
    ranges = analysis.sentences(text)
    assert [text[b:e] for b, e in ranges] == expected
    assert ranges[0][0] == 0 and ranges[-1][1] == len(text)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))


def test_span_annotations_score_each_sentence_on_its_own():
    text = "You idiot. Nice day 😀. Bye"
    plan = analysis.prepare(request(text, spanAnnotations=True), model_type="original")
    assert analysis.texts_to_score(plan) == [text, "You idiot. ", "Nice day 😀. ", "Bye"]
    results = [
        FakeAnalysis(scores(0.9)),
        FakeAnalysis(scores(0.9)),
        FakeAnalysis(scores(0.1)),
        FakeAnalysis(scores(0.2)),
    ]
    body = analysis.respond(plan, results)
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    # UTF-16 offsets: the emoji counts two, so everything after it moves by one
    assert [(s["begin"], s["end"], s["score"]["value"]) for s in spans] == [(0, 11, 0.9), (11, 24, 0.1), (24, 27, 0.2)]
    assert body["attributeScores"]["TOXICITY"]["summaryScore"] == {"value": 0.9, "type": "PROBABILITY"}


def test_a_sentence_longer_than_a_window_gets_a_span_per_window():
    text = "short. " + "x" * 40
    plan = analysis.prepare(request(text, spanAnnotations=True), model_type="original")
    long_sentence = FakeAnalysis(scores(0.7), [FakeSpan(0, 30, scores(0.7)), FakeSpan(20, 40, scores(0.3))])
    body = analysis.respond(plan, [FakeAnalysis(scores(0.7)), FakeAnalysis(scores(0.1)), long_sentence])
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 7), (7, 37), (27, 47)]


def test_one_sentence_over_several_windows_takes_the_windows_of_the_text():
    text = "y" * 50
    plan = analysis.prepare(request(text, spanAnnotations=True), model_type="original")
    assert analysis.texts_to_score(plan) == [text]
    whole = FakeAnalysis(scores(0.5), [FakeSpan(0, 30, scores(0.5)), FakeSpan(25, 50, scores(0.2))])
    spans = analysis.respond(plan, [whole])["attributeScores"]["TOXICITY"]["spanScores"]
    assert [(s["begin"], s["end"], s["score"]["value"]) for s in spans] == [(0, 30, 0.5), (25, 50, 0.2)]


def test_without_span_annotations_there_are_no_span_scores_and_one_text_is_scored():
    plan = analysis.prepare(request("One. Two."), model_type="original")
    assert analysis.texts_to_score(plan) == ["One. Two."]
    assert "spanScores" not in analysis.respond(plan, [FakeAnalysis(scores(0.4))])["attributeScores"]["TOXICITY"]


# --- thresholds and the answer --------------------------------------------------------------------


def test_an_attribute_under_its_threshold_is_left_out():
    body = {
        "comment": {"text": "hi"},
        "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.5}, "INSULT": {"scoreThreshold": 0.2}, "THREAT": {}},
        "clientToken": "abc",
    }
    plan = analysis.prepare(body, model_type="original")
    result = FakeAnalysis({**scores(0.0), "toxicity": 0.4, "insult": 0.2, "threat": 0.01})
    answer = analysis.respond(plan, [result])
    assert set(answer["attributeScores"]) == {"INSULT", "THREAT"}  # 0.2 is not under 0.2
    assert answer["attributeScores"]["THREAT"]["summaryScore"]["value"] == 0.01
    assert answer["clientToken"] == "abc"
    assert answer["languages"] == ["en"]


def test_profanity_is_scored_by_the_obscene_label():
    plan = analysis.prepare(
        {"comment": {"text": "hi"}, "requestedAttributes": {"PROFANITY": {}}}, model_type="original"
    )
    answer = analysis.respond(plan, [FakeAnalysis({**scores(0.1), "obscene": 0.77})])
    assert answer["attributeScores"]["PROFANITY"]["summaryScore"]["value"] == 0.77


# --- suggested scores -----------------------------------------------------------------------------


def test_feedback_is_stored_for_the_keys_site(db, site):
    from comments.services.apikeys import issue_key

    key, _ = issue_key(site, "coral", ["analyze"])
    row = analysis.record_feedback(
        key,
        {
            "comment": {"text": "bad 😀"},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1.0}, "spanScores": [{"begin": 0, "end": 6}]}},
            "languages": ["en-US"],
            "communityId": "Coral:https://news.example",
            "clientToken": "comment:1",
        },
    )
    stored = db.session.get(AnalysisFeedback, row.id)
    assert (stored.site_id, stored.api_key_id, stored.text) == (site.id, key.id, "bad 😀")
    assert stored.attribute_scores["TOXICITY"]["summaryScore"] == {"value": 1.0}
    assert stored.languages == ["en"]
    assert (stored.community_id, stored.client_token, stored.session_id) == (
        "Coral:https://news.example",
        "comment:1",
        None,
    )


@pytest.mark.parametrize(
    ("scores_sent", "message"),
    [
        ({}, "attributeScores must not be empty"),
        ({"TOXICITY": {}}, "attributeScores.TOXICITY must not be empty"),
        ({"NICE": {"summaryScore": {"value": 1}}}, "Unknown attribute: NICE"),
        ({"TOXICITY": {"spanScores": [{"begin": 0, "end": 7}]}}, "not inside the text"),  # "bad 😀" is 6 units
        ({"TOXICITY": {"spanScores": [{"begin": 3, "end": 2}]}}, "not inside the text"),
    ],
)
def test_feedback_google_would_refuse_is_refused(db, site, scores_sent, message):
    from comments.services.apikeys import issue_key

    key, _ = issue_key(site, "coral", ["analyze"])
    with pytest.raises(Invalid, match=message):
        analysis.record_feedback(key, {"comment": {"text": "bad 😀"}, "attributeScores": scores_sent})
    assert db.session.query(AnalysisFeedback).count() == 0


def _feedback(db, site, *pairs: tuple[str | None, str | None], days_old: int = 0) -> list[int]:
    """One stored suggestion per (clientToken, communityId), ``days_old`` days old."""
    from datetime import timedelta

    from comments.models import utcnow
    from comments.services.apikeys import issue_key

    key, _ = issue_key(site, "coral", ["analyze"])
    ids = []
    for token, community in pairs:
        body: dict[str, Any] = {"comment": {"text": "kept text"}, "attributeScores": {"TOXICITY": {"summaryScore": {}}}}
        if token is not None:
            body["clientToken"] = token
        if community is not None:
            body["communityId"] = community
        row = analysis.record_feedback(key, body)
        row.created_at = utcnow() - timedelta(days=days_old)
        ids.append(row.id)
    db.session.commit()
    return ids


def test_a_sites_feedback_is_deleted_by_client_token_community_or_all(db, site):
    from comments.models import AuditEvent
    from comments.services.audit import Actor
    from comments.services.sites import create_site

    other, _ = create_site("other", [])
    a1, a2, b1, none = _feedback(db, site, ("t1", "A"), ("t2", "A"), ("t1", "B"), (None, None))
    (elsewhere,) = _feedback(db, other, ("t1", "A"))
    host = Actor("host", "key-prefix")

    def left() -> set[int]:
        return set(db.session.scalars(select(AnalysisFeedback.id)))

    assert analysis.delete_feedback(site, host, client_token="t1", community_id="A") == 1
    assert left() == {a2, b1, none, elsewhere}
    assert analysis.delete_feedback(site, host, community_id="A") == 1
    assert analysis.delete_feedback(site, host, client_token="t1") == 1
    assert analysis.delete_feedback(site, host, client_token="nothing") == 0
    assert left() == {none, elsewhere}
    assert analysis.delete_feedback(site, host) == 1
    assert left() == {elsewhere}  # another site's suggestions are its own
    events = db.session.query(AuditEvent).filter_by(action="analysis_feedback_deleted").order_by(AuditEvent.id).all()
    assert [e.reasons[0]["analysis_feedback"] for e in events] == [1, 1, 1, 0, 1]
    assert events[0].reasons[0]["client_token"] == "t1" and events[0].site_id == site.id
    assert "kept text" not in str([e.reasons for e in events])


def test_the_purge_drops_feedback_past_its_retention_oldest_first_in_batches(db, site):
    from comments.services.privacy import Purge, Retention, purge_batch

    old = _feedback(db, site, *[(f"old{i}", None) for i in range(5)], days_old=400)
    recent = _feedback(db, site, ("recent", None), days_old=300)
    retention = Retention.days(90, 30, 365)
    total = Purge()
    while (batch := purge_batch(retention, limit=2)).total:
        assert batch.feedback <= 2
        total.add(batch)
        db.session.commit()
    assert total.feedback == len(old) == 5
    assert set(db.session.scalars(select(AnalysisFeedback.id))) == set(recent)
    kept_forever = Retention.days(90, 30)  # no feedback retention given: the purge keeps it
    assert purge_batch(kept_forever).feedback == 0
