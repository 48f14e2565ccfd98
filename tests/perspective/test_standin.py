"""The stand-in scorer: the pipeline's windows mapped back to the text, each scored on its own;
the summary is the comment pipeline's score of the whole text."""

from __future__ import annotations

import pytest

from comments.classifier import ClassifierUnavailable
from comments.perspective.standin import StandInAnalyzer, _window_ranges
from comments.tasks import ClassifierHolder


def test_a_short_text_is_one_span_with_the_texts_score(classifier):
    [result] = StandInAnalyzer(ClassifierHolder({}, classifier))(["You are an idiot."], timeout=1)
    assert result.summary == classifier.score(["You are an idiot."])[0]
    assert [(s.begin, s.end) for s in result.spans] == [(0, 17)]


def test_a_long_text_is_cut_as_the_planner_cuts_it(classifier):
    text = "héllo wörld " * 700  # 1,400 words, non-ASCII: offsets are code points here
    ranges = _window_ranges(classifier, text)
    tokens = len(classifier.detoxify.tokenizer(text, add_special_tokens=False)["input_ids"])
    windows = classifier.windowing.split(list(range(tokens)))
    assert len(ranges) == len(windows) >= 2
    assert ranges[0][0] == 0 and ranges[-1][1] == len(text.rstrip())
    for (begin, end), window in zip(ranges, windows):
        # each range re-tokenizes to the window's body (its special tokens aside)
        body = len(window) - len(classifier.windowing.prefix) - len(classifier.windowing.suffix)
        assert len(classifier.detoxify.tokenizer(text[begin:end], add_special_tokens=False)["input_ids"]) == body
    [result] = StandInAnalyzer(ClassifierHolder({}, classifier))([text], timeout=1)
    assert [(s.begin, s.end) for s in result.spans] == ranges
    assert result.summary == classifier.score([text])[0]


def test_without_a_classifier_it_raises_classifier_unavailable(tmp_path):
    holder = ClassifierHolder({"CLASSIFIER_CHECKPOINT": str(tmp_path / "none.ckpt"), "CLASSIFIER_ALLOW_UNPINNED": True})
    with pytest.raises(ClassifierUnavailable):
        StandInAnalyzer(holder)(["hi"], timeout=1)
