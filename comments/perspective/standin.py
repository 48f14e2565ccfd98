"""A stand-in for the shared batching scorer (``comments.tasks.analyzer``, built on another branch),
with its signature: ``analyze(texts, *, timeout) -> list[Analysis]``, one ``Span`` per model window.

It scores on the process's classifier (``tasks.holder``) under the classifier's own lock, one
call at a time: no batching across requests. Long texts: the whole text's score is the
classifier's (each label's maximum over its windows, as in the comment pipeline), and each window
is scored again on its own for its span. To be replaced by ``comments.tasks.analyzer.analyze``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from comments.classifier import ClassifierUnavailable
from comments.tasks.holder import ClassifierHolder


@dataclass(frozen=True)
class Span:
    begin: int  # Python str indices (code points) into the text
    end: int
    scores: Mapping[str, float]


@dataclass(frozen=True)
class Analysis:
    summary: Mapping[str, float]
    spans: list[Span] = field(default_factory=list)


class StandInAnalyzer:
    def __init__(self, holder: ClassifierHolder):
        self.holder = holder

    def __call__(self, texts: Sequence[str], *, timeout: float) -> list[Analysis]:
        classifier, error = self.holder.get()
        if classifier is None:
            raise ClassifierUnavailable(error or "the classifier is not loaded")
        texts = list(texts)
        summaries = classifier.score(texts)
        results = []
        for text, summary in zip(texts, summaries):
            windows = _window_ranges(classifier, text)
            if len(windows) <= 1:
                spans = [Span(0, len(text), summary)]
            else:
                scored = classifier.score([text[begin:end] for begin, end in windows])
                spans = [Span(begin, end, scores) for (begin, end), scores in zip(windows, scored)]
            results.append(Analysis(summary, spans))
        return results


def _window_ranges(classifier: Any, text: str) -> list[tuple[int, int]]:
    """The (begin, end) code point ranges of the model windows the pipeline cuts ``text`` into:
    the planner's windows (``Windowing.split``), mapped back through the tokenizer's offsets."""
    windowing = getattr(classifier, "windowing", None)
    detoxify = getattr(classifier, "detoxify", None)
    if windowing is None or detoxify is None:
        return [(0, len(text))]
    encoded = detoxify.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    if len(offsets) <= windowing.body:
        return [(0, len(text))]
    ranges = []
    start = 0
    while True:
        last = min(start + windowing.body, len(offsets)) - 1
        ranges.append((offsets[start][0], offsets[last][1]))
        if start + windowing.body >= len(offsets):
            return ranges
        start += windowing.step
