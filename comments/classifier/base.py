"""The small interface the rest of the app uses to score comments.

Anything with ``name``, ``version``, ``labels`` and ``score()`` is a
:class:`Classifier`; the production implementation is
:class:`comments.classifier.detoxify_backend.DetoxifyClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .planner import Windowing

__all__ = ["Classifier", "ClassifierUnavailable", "DETOXIFY_LABELS", "WindowedClassifier"]

#: Detoxify's standardised label names, in the order of the "original" model.
#: "unbiased" models add e.g. ``sexual_explicit``; multilingual models use the
#: same names. A classifier's own ``labels`` attribute is authoritative.
DETOXIFY_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)


@runtime_checkable
class Classifier(Protocol):
    """Scores texts; one ``{label: probability}`` mapping per text."""

    #: e.g. ``"detoxify-original"``
    name: str
    #: e.g. ``"sha256:0123456789ab"`` (first 12 hex digits of the checkpoint's SHA-256)
    version: str
    #: the label names every result mapping contains, e.g. ``("toxicity", ...)``
    labels: tuple[str, ...]

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Return one ``{label: probability in [0, 1]}`` per text, in input order.

        Raises :class:`ClassifierUnavailable` if scoring fails.
        """
        ...


@runtime_checkable
class WindowedClassifier(Classifier, Protocol):
    """A :class:`Classifier` whose ``score()`` can be taken apart: tokenise, cut into windows,
    one forward pass at a time (:class:`~comments.classifier.detoxify_backend.DetoxifyClassifier`).
    A caller that plans the passes itself can share them between several callers' texts and
    tell which part of a text each window scored."""

    #: how texts are cut into windows (:mod:`comments.classifier.planner`)
    windowing: Windowing
    #: tokens per window, special tokens included
    window: int
    #: a pass's token budget, in full windows
    windows_per_pass: int
    #: the fixed cost of a forward pass, in tokens' worth of compute (measured at start-up)
    pass_cost_tokens: int

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Each text's token ids and each token's ``(begin, end)`` character indices."""
        ...

    def run_pass(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        """One forward pass: a row of probabilities (in ``labels`` order) per window."""
        ...


class ClassifierUnavailable(Exception):
    """The model cannot be loaded, or scoring failed.

    The message says why (missing file, SHA-256 pin mismatch, bad setting,
    error inside the model, ...); the original exception, if any, is chained
    as ``__cause__``.
    """
