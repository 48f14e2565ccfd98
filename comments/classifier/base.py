"""The small interface the rest of the app uses to score comments.

Anything with ``name``, ``version``, ``labels`` and ``score()`` is a
:class:`Classifier`; the production implementation is
:class:`comments.classifier.detoxify_backend.DetoxifyClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Classifier", "ClassifierUnavailable", "DETOXIFY_LABELS"]

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


class ClassifierUnavailable(Exception):
    """The model cannot be loaded, or scoring failed.

    The message says why (missing file, SHA-256 pin mismatch, bad setting,
    error inside the model, ...); the original exception, if any, is chained
    as ``__cause__``.
    """
