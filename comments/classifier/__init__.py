"""Toxicity classifier.

The app keeps one classifier per process, built from its Flask config by :func:`load_classifier`.
Its settings (``CLASSIFIER_*``; as environment variables prefixed ``COMMENTS_``, e.g.
``COMMENTS_CLASSIFIER_CHECKPOINT``) are declared, with their defaults, parsers and help, in
:data:`comments.config.SETTINGS`; the README's configuration table is written from there.

The package's parts, by reason to change:

- :mod:`.loading`: the pinned checkpoint (SHA-256 checked before ``torch.load(weights_only=False)``
  sees a byte), offline loading through ``detoxify.Detoxify``, the architecture check;
- :mod:`.precision`: ``fp32`` / ``bf16`` for the torch runtime;
- :mod:`.openvino_runtime`: the model converted to OpenVINO;
- :mod:`.planner`: pure: texts cut into overlapping 512-token windows (64 tokens overlap; each
  label's maximum over a text's windows is reported) and windows grouped into forward passes;
- :mod:`.detoxify_backend`: :class:`~.detoxify_backend.DetoxifyClassifier`, which puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comments import config

from .base import DETOXIFY_LABELS, Classifier, ClassifierUnavailable, WindowedClassifier

__all__ = [
    "DETOXIFY_LABELS",
    "Classifier",
    "ClassifierUnavailable",
    "WindowedClassifier",
    "load_classifier",
]


def _setting(settings: Mapping[str, Any], key: str) -> Any:
    """``settings[key]`` parsed by the setting's one parser (values may still be strings)."""
    try:
        return config.parse_setting(key, settings.get(key))
    except ValueError as exc:
        raise ClassifierUnavailable(f"{key}: {exc}") from None


def load_classifier(settings: Mapping[str, Any]) -> Classifier:
    """Build the classifier described by ``settings`` (e.g. ``app.config``).

    Loads the model now (once per process). Raises
    :class:`ClassifierUnavailable` if it cannot be loaded.
    """
    from .detoxify_backend import DetoxifyClassifier  # deferred: it loads torch (seconds)

    return DetoxifyClassifier(
        model_type=_setting(settings, "CLASSIFIER_MODEL_TYPE"),
        checkpoint=_setting(settings, "CLASSIFIER_CHECKPOINT"),
        checkpoint_sha256=_setting(settings, "CLASSIFIER_CHECKPOINT_SHA256"),
        config_dir=_setting(settings, "CLASSIFIER_CONFIG_DIR"),
        device=_setting(settings, "CLASSIFIER_DEVICE"),
        threads=_setting(settings, "CLASSIFIER_THREADS"),
        windows_per_pass=_setting(settings, "CLASSIFIER_WINDOWS_PER_PASS"),
        precision=_setting(settings, "CLASSIFIER_PRECISION"),
        runtime=_setting(settings, "CLASSIFIER_RUNTIME"),
        allow_unpinned=_setting(settings, "CLASSIFIER_ALLOW_UNPINNED"),
    )
