"""Perspective's analysis, in our classifier's terms: attribute names <-> Detoxify labels, the
languages a model reads, sentences and windows as Perspective's spans, thresholds.

Google's Perspective API (v1alpha1, ``comments:analyze``) is served by ``comments.perspective``;
this module holds its rules, without a request and without storage: the view checks the request
here (:func:`prepare`), has the texts scored (:func:`texts_to_score`, by the process's shared
scorer) and builds the answer here (:func:`respond`). Nothing of an analyzed text is kept.

Offsets: Perspective's ``begin``/``end`` are "the UTF-16 codepoint range" of the text (its
reference says so), i.e. UTF-16 code units, ``end`` exclusive. Python indexes code points, so
every offset is converted (:func:`utf16_offsets`): a character outside the Basic Multilingual
Plane (an emoji) counts 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select

from comments.classifier import DETOXIFY_LABELS
from comments.extensions import db
from comments.models import AnalysisFeedback, ApiKey, Site
from comments.services.audit import Actor, record
from comments.services.errors import Invalid
from comments.services.statements import rows_changed

#: Perspective's attributes and the Detoxify labels that score them. SEXUALLY_EXPLICIT exists only
#: where the loaded model has ``sexual_explicit`` (the ``unbiased`` and ``multilingual`` models).
ATTRIBUTE_LABELS: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual_explicit",
}

#: The languages each Detoxify model type was trained on (Detoxify's README): English for
#: ``original`` and ``unbiased``; the seven of the Jigsaw multilingual data for ``multilingual``.
MODEL_LANGUAGES: dict[str, tuple[str, ...]] = {
    "original": ("en",),
    "original-small": ("en",),
    "unbiased": ("en",),
    "unbiased-small": ("en",),
    "multilingual": ("en", "fr", "es", "it", "pt", "ru", "tr"),
}

#: The labels each model type scores, beyond :data:`DETOXIFY_LABELS` (the ``original`` ones).
_EXTRA_LABELS: dict[str, tuple[str, ...]] = {
    "unbiased": ("sexual_explicit",),
    "unbiased-small": ("sexual_explicit",),
    "multilingual": ("sexual_explicit",),
}

#: Perspective's limit on a comment: 20 KB of UTF-8 (20,480 bytes).
MAX_TEXT_BYTES = 20_480

PROBABILITY = "PROBABILITY"
#: The score types a request may ask for: ours are probabilities (Detoxify's sigmoid outputs).
SCORE_TYPES = ("SCORE_TYPE_UNSPECIFIED", PROBABILITY)
#: Every score type Google's reference names (the others are refused as unsupported, not unknown).
ALL_SCORE_TYPES = (*SCORE_TYPES, "STD_DEV_SCORE", "PERCENTILE", "RAW")
TEXT_TYPES = ("TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML")


def model_labels(model_type: str) -> tuple[str, ...]:
    return DETOXIFY_LABELS + _EXTRA_LABELS.get(model_type, ())


def model_attributes(model_type: str) -> tuple[str, ...]:
    """The attributes a model of this type answers, in Perspective's order."""
    labels = model_labels(model_type)
    return tuple(name for name, label in ATTRIBUTE_LABELS.items() if label in labels)


# --- what the scorer returns (comments.tasks.analyzer's Analysis and Span have these fields) ---------


class ScoredSpan(Protocol):
    @property
    def begin(self) -> int: ...  # a Python index (code points) into the scored text
    @property
    def end(self) -> int: ...
    @property
    def scores(self) -> Mapping[str, float]: ...


class ScoredText(Protocol):
    @property
    def summary(self) -> Mapping[str, float]: ...
    @property
    def spans(self) -> Sequence[ScoredSpan]: ...


# --- the request, checked ---------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """An analyze request, checked: what to score and how to answer."""

    text: str
    #: attribute -> its scoreThreshold (None: every score is returned)
    thresholds: dict[str, float | None]
    languages: list[str]
    detected_languages: list[str] | None
    span_annotations: bool
    client_token: str | None
    #: the text's sentences, as (begin, end) code point ranges that tile the text
    sentences: list[tuple[int, int]] = field(default_factory=list)


def invalid_argument(message: str) -> Invalid:
    """Perspective answers every bad request with 400 INVALID_ARGUMENT and a sentence."""
    return Invalid("invalid_argument", message)


def check_text(text: str, text_type: str | None) -> str:
    if text_type == "HTML":
        raise invalid_argument("Comment type HTML is not supported: send the text as PLAIN_TEXT.")
    if not text.strip():
        raise invalid_argument("Comment must be non-empty.")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise invalid_argument(f"Comment text too long: {size} bytes of UTF-8, at most {MAX_TEXT_BYTES}.")
    return text


def normalise_language(code: str) -> str:
    """``en-US``, ``EN``, ``pt_BR`` -> ``en``, ``en``, ``pt``: ISO 639-1 and BCP-47 codes are both
    accepted, and a model reads a language, not a region."""
    return code.strip().replace("_", "-").split("-")[0].lower()


def prepare(data: Mapping[str, Any], *, model_type: str) -> Plan:
    """Check a loaded analyze request (``comments.perspective.schemas``) against the model."""
    comment = data["comment"]
    text = check_text(comment["text"], comment.get("type"))
    requested: Mapping[str, Mapping[str, Any]] = data["requestedAttributes"]
    if not requested:
        raise invalid_argument("requestedAttributes must not be empty.")
    unknown = [name for name in requested if name not in ATTRIBUTE_LABELS]
    if unknown:
        raise invalid_argument(
            f"Unknown attribute: {unknown[0]}. Known attributes: {', '.join(model_attributes(model_type))}."
        )
    thresholds: dict[str, float | None] = {}
    for name, parameters in requested.items():
        score_type = parameters.get("scoreType")
        if score_type is not None and score_type not in SCORE_TYPES:
            raise invalid_argument(f"Attribute {name} does not support score type {score_type}: only PROBABILITY.")
        threshold = parameters.get("scoreThreshold")
        if threshold is not None and not 0 <= threshold <= 1:
            raise invalid_argument(f"scoreThreshold of {name} must be between 0 and 1, not {threshold}.")
        thresholds[name] = threshold

    supported = MODEL_LANGUAGES.get(model_type, ("en",))
    asked = [normalise_language(code) for code in data.get("languages") or [] if code.strip()]
    detected: list[str] | None = None
    if asked:
        languages = list(dict.fromkeys(asked))
    else:
        detected = detect_languages(text, supported)
        languages = detected[:1]
    attributes = model_attributes(model_type)
    for name in requested:
        if name not in attributes:
            raise invalid_argument(f"Attribute {name} does not exist in this service's model ({model_type}).")
        refused = [code for code in languages if code not in supported]
        if refused:
            raise invalid_argument(f"Attribute {name} does not support request languages: {', '.join(refused)}")
    span_annotations = bool(data.get("spanAnnotations"))
    return Plan(
        text=text,
        thresholds=thresholds,
        languages=languages,
        detected_languages=detected,
        span_annotations=span_annotations,
        client_token=data.get("clientToken"),
        sentences=sentences(text) if span_annotations else [],
    )


def texts_to_score(plan: Plan) -> list[str]:
    """The text, and with span annotations each of its sentences (when it has more than one): a
    sentence's own score, as Perspective gives it, not its share of the whole text's."""
    if len(plan.sentences) > 1:
        return [plan.text] + [plan.text[begin:end] for begin, end in plan.sentences]
    return [plan.text]


def respond(plan: Plan, scored: Sequence[ScoredText]) -> dict[str, Any]:
    """The analyze answer, from the scorer's results for :func:`texts_to_score`."""
    whole = scored[0]
    spans = _spans(plan, scored)
    to_utf16 = utf16_offsets(plan.text) if plan.span_annotations else None
    attribute_scores: dict[str, Any] = {}
    for name, threshold in plan.thresholds.items():
        label = ATTRIBUTE_LABELS[name]
        if label not in whole.summary:
            raise invalid_argument(f"Attribute {name} does not exist in this service's model.")
        value = float(whole.summary[label])
        if threshold is not None and value < threshold:
            continue  # Perspective leaves out an attribute whose score is under its threshold
        entry: dict[str, Any] = {"summaryScore": {"value": value, "type": PROBABILITY}}
        if to_utf16 is not None:
            entry["spanScores"] = [
                {
                    "begin": to_utf16[begin],
                    "end": to_utf16[end],
                    "score": {"value": float(scores[label]), "type": PROBABILITY},
                }
                for begin, end, scores in spans
            ]
        attribute_scores[name] = entry
    body: dict[str, Any] = {"attributeScores": attribute_scores, "languages": plan.languages}
    if plan.detected_languages is not None:
        body["detectedLanguages"] = plan.detected_languages
    if plan.client_token is not None:
        body["clientToken"] = plan.client_token
    return body


def _spans(plan: Plan, scored: Sequence[ScoredText]) -> list[tuple[int, int, Mapping[str, float]]]:
    """(begin, end, scores) in code points of the whole text: one per sentence, or per window of
    a sentence (or of the text) longer than the model's window."""
    if not plan.span_annotations:
        return []
    if len(plan.sentences) <= 1:
        return _windows(scored[0], 0, len(plan.text))
    found: list[tuple[int, int, Mapping[str, float]]] = []
    for (begin, end), result in zip(plan.sentences, scored[1:]):
        found += _windows(result, begin, end)
    return found


def _windows(result: ScoredText, offset: int, length_end: int) -> list[tuple[int, int, Mapping[str, float]]]:
    if len(result.spans) <= 1:
        # One window: the span is the whole sentence (or text), blanks around it included.
        return [(offset, length_end, result.summary)]
    return [(offset + span.begin, offset + span.end, span.scores) for span in result.spans]


# --- suggested scores -----------------------------------------------------------------------------


def record_feedback(key: ApiKey, data: Mapping[str, Any]) -> AnalysisFeedback:
    """Store a loaded ``comments:suggestscore`` request as feedback for the key's site (flushed,
    not committed). Google's rules: ``attributeScores`` and each of its entries non-empty, every
    span with ``begin`` and ``end`` inside the text (UTF-16 offsets)."""
    comment = data["comment"]
    text = check_text(comment["text"], comment.get("type"))
    scores: Mapping[str, Mapping[str, Any]] = data["attributeScores"]
    if not scores:
        raise invalid_argument("attributeScores must not be empty.")
    length = utf16_offsets(text)[-1]
    for name, entry in scores.items():
        if name not in ATTRIBUTE_LABELS:
            raise invalid_argument(f"Unknown attribute: {name}. Known attributes: {', '.join(ATTRIBUTE_LABELS)}.")
        if not entry:
            raise invalid_argument(f"attributeScores.{name} must not be empty.")
        for span in entry.get("spanScores") or []:
            if not 0 <= span["begin"] <= span["end"] <= length:
                raise invalid_argument(
                    f"A span of {name} ({span['begin']}, {span['end']}) is not inside the text (0, {length})."
                )
    row = AnalysisFeedback(
        site_id=key.site_id,
        api_key_id=key.id,
        text=text,
        attribute_scores={name: dict(entry) for name, entry in scores.items()},
        context=data.get("context"),
        languages=[normalise_language(code) for code in data.get("languages") or []],
        community_id=data.get("communityId"),
        client_token=data.get("clientToken"),
        session_id=data.get("sessionId"),
    )
    db.session.add(row)
    db.session.flush()
    return row


def delete_feedback(
    site: Site, actor: Actor, *, client_token: str | None = None, community_id: str | None = None
) -> int:
    """Delete the site's stored suggestions: all of them, or those sent with this ``clientToken``
    and/or ``communityId`` (both given: those with both). How many went; audited, without a text.

    Feedback carries no author identity (a Perspective client sends the text and its own opaque
    ids, never who wrote it), so this is how a host forgets a community's or a client's feedback;
    a privacy request about a person cannot find it (README "Privacy")."""
    conditions = [AnalysisFeedback.site_id == site.id]
    if client_token is not None:
        conditions.append(AnalysisFeedback.client_token == client_token)
    if community_id is not None:
        conditions.append(AnalysisFeedback.community_id == community_id)
    deleted = rows_changed(delete(AnalysisFeedback).where(*conditions).execution_options(synchronize_session=False))
    record(
        "analysis_feedback_deleted",
        actor,
        site_id=site.id,
        reasons=[
            {
                "kind": "privacy",
                "analysis_feedback": deleted,
                "client_token": client_token,
                "community_id": community_id,
            }
        ],
    )
    return deleted


def purge_feedback(cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` suggestions stored before ``cutoff``, oldest first (the purge job's
    batch), found through ``ix_analysis_feedback_created``: a batch reads what it deletes, and
    the last one, which finds none, reads nothing."""
    expired = (
        select(AnalysisFeedback.id)
        .where(AnalysisFeedback.created_at < cutoff)
        .order_by(AnalysisFeedback.created_at)
        .limit(limit)
    )
    return rows_changed(
        delete(AnalysisFeedback)
        .where(AnalysisFeedback.id.in_(expired.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )


# --- offsets ------------------------------------------------------------------------------------


def utf16_offsets(text: str) -> list[int]:
    """``offsets[i]``: the UTF-16 offset of code point ``i`` (and of the end, ``len(text)``)."""
    offsets = [0] * (len(text) + 1)
    position = 0
    for index, char in enumerate(text):
        offsets[index] = position
        position += 2 if ord(char) > 0xFFFF else 1
    offsets[len(text)] = position
    return offsets


# A sentence ends at . ! ? … followed by blanks (not "3.14"), at their full-width forms (CJK
# writes no blank after them), or at a line break; the blanks after it belong to it, so the
# sentences tile the text.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?:\s+|$)|[。！？]+\s*|\n+")


def sentences(text: str) -> list[tuple[int, int]]:
    """The text's sentences as (begin, end) code point ranges that cover it without gaps."""
    found: list[tuple[int, int]] = []
    begin = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > begin and text[begin:end].strip():
            found.append((begin, end))
            begin = end
    if begin < len(text):
        if found and not text[begin:].strip():
            found[-1] = (found[-1][0], len(text))  # trailing blanks join the last sentence
        else:
            found.append((begin, len(text)))
    return found


# --- languages ------------------------------------------------------------------------------------

# A light detector for the multilingual model's seven languages: frequent function words, and
# Cyrillic for Russian. It only has to choose among the languages a model reads; a text with none
# of these words is taken to be in the model's first language (said in detectedLanguages).
# One line per language: its code, then its words.
_FUNCTION_WORD_LINES = """
en the and is are you that this of to it not was for with have be what your
fr le la les est et une des que pas vous je il elle sont avec pour dans ce qui
es el los las es y una que por con para del está son pero como muy yo tú
it il lo gli è e una che per con non sono della questo sei anche come molto
pt o os as é e uma que por com para não são do da você isso muito eu
tr ve bir bu da de için ile çok ne değil ben sen mi var yok gibi
"""
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    words[0]: frozenset(words[1:]) for words in map(str.split, _FUNCTION_WORD_LINES.strip().splitlines())
}
_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def detect_languages(text: str, supported: Sequence[str]) -> list[str]:
    """The languages of ``supported`` the text looks like, most likely first (never empty)."""
    if len(supported) == 1:
        return [supported[0]]  # the model reads one language: that is the one it will assume
    words = [word.lower() for word in _WORD.findall(text)]
    counts: dict[str, float] = {}
    if "ru" in supported:
        # Cyrillic words weigh double: a Russian text has few of the other lists' words anyway.
        counts["ru"] = 2.0 * sum(1 for word in words if _CYRILLIC.search(word))
    for language in supported:
        vocabulary = _FUNCTION_WORDS.get(language, frozenset())
        if vocabulary:
            counts[language] = counts.get(language, 0.0) + sum(1 for word in words if word in vocabulary)
    ranked = sorted((language for language in counts if counts[language] > 0), key=lambda lang: -counts[lang])
    return ranked or [supported[0]]
