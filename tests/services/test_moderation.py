"""The moderation policy as a table: rule verdicts and scores in, one status and its reasons out."""

from __future__ import annotations

import pytest

from comments.services.moderation import ClassifierResult, outcome
from comments.services.sites import DEFAULT_SETTINGS

LOW = {
    "toxicity": 0.1,
    "severe_toxicity": 0.01,
    "obscene": 0.05,
    "threat": 0.02,
    "insult": 0.1,
    "identity_attack": 0.01,
}


def scores(**over):
    return ClassifierResult({**LOW, **over}, model="m@1")


def settings(**over):
    return {**DEFAULT_SETTINGS, **over, "thresholds": {**DEFAULT_SETTINGS["thresholds"], **over.get("thresholds", {})}}


HOLD_RULE = {"kind": "rule", "code": "suspect_word", "effect": "hold"}
REJECT_RULE = {"kind": "rule", "code": "banned_word", "effect": "reject"}


@pytest.mark.parametrize(
    "rules,result,site,expected,codes",
    [
        ([], None, {}, "published", []),
        ([], scores(), {}, "published", []),
        ([HOLD_RULE], scores(), {}, "held", ["suspect_word"]),
        ([REJECT_RULE, HOLD_RULE], scores(), {}, "rejected", ["banned_word", "suspect_word"]),
        ([], scores(toxicity=0.7), {}, "held", ["label_over_threshold"]),  # at the threshold holds
        ([], scores(toxicity=0.699), {}, "published", []),
        ([], scores(threat=0.95), {}, "held", ["label_over_threshold"]),
        ([], scores(insult=0.8, obscene=0.9), {}, "held", ["label_over_threshold", "label_over_threshold"]),
        ([], scores(toxicity=0.5), {"thresholds": {"toxicity": 0.4}}, "held", ["label_over_threshold"]),
        ([], scores(toxicity=0.95), {"reject_thresholds": {"toxicity": 0.9}}, "rejected", ["label_over_threshold"]),
        ([], scores(toxicity=0.85), {"reject_thresholds": {"toxicity": 0.9}}, "held", ["label_over_threshold"]),
        ([], scores(toxicity=0.95), {"shadow_mode": True}, "published", ["label_over_threshold"]),
        ([HOLD_RULE], scores(toxicity=0.95), {"shadow_mode": True}, "held", ["suspect_word", "label_over_threshold"]),
        ([], ClassifierResult(None, error="down"), {}, "held", ["classifier_unavailable"]),
        (
            [],
            ClassifierResult(None, error="down"),
            {"failure_policy": "publish"},
            "published",
            ["classifier_unavailable"],
        ),
        (
            [REJECT_RULE],
            ClassifierResult(None, error="down"),
            {"failure_policy": "publish"},
            "rejected",
            ["banned_word", "classifier_unavailable"],
        ),
    ],
)
def test_policy_table(rules, result, site, expected, codes):
    status, reasons = outcome(rules, settings(**site), result)
    assert status.value == expected
    assert [r["code"] for r in reasons] == codes


def test_classifier_reasons_say_label_score_and_threshold():
    _, reasons = outcome([], settings(), scores(threat=0.912345))
    assert reasons == [
        {
            "kind": "classifier",
            "code": "label_over_threshold",
            "label": "threat",
            "score": 0.9123,
            "threshold": 0.7,
            "effect": "hold",
            "model": "m@1",
        }
    ]
