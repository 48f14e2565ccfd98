"""Reduced precision keeps every score within 0.02 of fp32."""

from __future__ import annotations

import random
from typing import Any

import pytest

from comments.classifier import load_classifier
from comments.classifier.detoxify_backend import PRECISIONS
from comments.classifier.testmodel import load_labelled_sample

TOLERANCE = 0.02


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Every sample sentence, plus mixed-length comments (some beyond one 512-token window)."""
    sentences = [e.text for e in load_labelled_sample()]
    rng = random.Random(5)
    mixed = [" ".join(rng.choice(sentences) for _ in range(rng.choice([2, 5, 12, 30, 60]))) for _ in range(24)]
    return sentences + mixed


@pytest.fixture(scope="module")
def fp32_scores(fp32_classifier, texts: list[str]) -> list[dict[str, float]]:
    return fp32_classifier.score(texts)


@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p != "fp32"])
def test_precision_close_to_fp32(classifier_settings: dict[str, Any], texts, fp32_scores, precision: str):
    clf = load_classifier({**classifier_settings, "CLASSIFIER_PRECISION": precision})
    assert clf.precision == precision
    scores = clf.score(texts)
    worst = max(abs(a[k] - b[k]) for a, b in zip(scores, fp32_scores) for k in a)
    assert worst <= TOLERANCE, f"{precision}: max difference {worst:.4f} vs fp32"
    # and the decisions do not change
    assert [s["toxicity"] > 0.5 for s in scores] == [s["toxicity"] > 0.5 for s in fp32_scores]


def test_rejected_precisions_are_refused(classifier_settings: dict[str, Any]):
    from comments.classifier import ClassifierUnavailable

    for precision in ("int8", "fp16"):
        with pytest.raises(ClassifierUnavailable, match="unknown precision"):
            load_classifier({**classifier_settings, "CLASSIFIER_PRECISION": precision})
