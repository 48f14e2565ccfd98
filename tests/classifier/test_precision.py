"""Every faster setting (precision x runtime) keeps every score within 0.02 of torch fp32."""

from __future__ import annotations

import importlib.util
import random
import sys
from typing import Any

import pytest

from comments.classifier import load_classifier
from comments.classifier.openvino_runtime import RUNTIMES
from comments.classifier.precision import PRECISIONS
from comments.classifier.testmodel import load_labelled_sample

TOLERANCE = 0.02

HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="optional openvino extra not installed")

SETTINGS = [
    pytest.param(runtime, precision, marks=[needs_openvino] if runtime == "openvino" else [])
    for runtime in RUNTIMES
    for precision in PRECISIONS
    if (runtime, precision) != ("torch", "fp32")
]


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


def max_difference(scores: list[dict[str, float]], reference: list[dict[str, float]]) -> float:
    assert len(scores) == len(reference)
    return max(abs(a[k] - b[k]) for a, b in zip(scores, reference) for k in b)


@pytest.mark.parametrize(("runtime", "precision"), SETTINGS)
def test_setting_close_to_fp32(classifier_settings: dict[str, Any], texts, fp32_scores, runtime: str, precision: str):
    clf = load_classifier({**classifier_settings, "CLASSIFIER_RUNTIME": runtime, "CLASSIFIER_PRECISION": precision})
    assert (clf.runtime, clf.precision) == (runtime, precision)
    scores = clf.score(texts)
    worst = max_difference(scores, fp32_scores)
    # full precision in another runtime only reorders float32 sums
    limit = 1e-4 if precision == "fp32" else TOLERANCE
    assert worst <= limit, f"{runtime} {precision}: max difference {worst:.4f} vs torch fp32"
    # and the decisions do not change
    assert [s["toxicity"] > 0.5 for s in scores] == [s["toxicity"] > 0.5 for s in fp32_scores]
    # batches of any composition give the same scores as one text at a time
    one_by_one = [clf.score([t])[0] for t in texts[:: len(texts) // 12]]
    assert max_difference(one_by_one, scores[:: len(texts) // 12]) <= 1e-3


@needs_openvino
def test_openvino_usage_telemetry_is_off(classifier_settings: dict[str, Any]):
    """openvino's converter would send usage events to an analytics service; loading turns that off."""
    load_classifier({**classifier_settings, "CLASSIFIER_RUNTIME": "openvino"})
    telemetry_utils = sys.modules["openvino.tools.ovc.telemetry_utils"]
    convert_impl = sys.modules["openvino.tools.ovc.convert_impl"]
    assert telemetry_utils.tm.__name__ == "openvino.tools.ovc.telemetry_stub"
    assert convert_impl.tm.__name__ == "openvino.tools.ovc.telemetry_stub"


def test_openvino_needs_the_cpu(classifier_settings: dict[str, Any]):
    from comments.classifier import ClassifierUnavailable

    with pytest.raises(ClassifierUnavailable, match="CPU only"):
        load_classifier({**classifier_settings, "CLASSIFIER_RUNTIME": "openvino", "CLASSIFIER_DEVICE": "cuda"})


def test_rejected_precisions_are_refused(classifier_settings: dict[str, Any]):
    from comments.classifier import ClassifierUnavailable

    for precision in ("int8", "fp16"):
        with pytest.raises(ClassifierUnavailable, match="unknown precision"):
            load_classifier({**classifier_settings, "CLASSIFIER_PRECISION": precision})
