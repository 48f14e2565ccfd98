"""Toxicity classifier.

The app keeps one classifier per process, built from its Flask config by
:func:`load_classifier`. Configuration keys (Flask config names; as
environment variables they are prefixed ``COMMENTS_``, e.g.
``COMMENTS_CLASSIFIER_CHECKPOINT``). Values may be given as strings.

``CLASSIFIER_MODEL_TYPE`` (default ``"original"``)
    Detoxify model type: ``original``, ``unbiased``, ``multilingual``,
    ``original-small`` or ``unbiased-small``. Must match the checkpoint's
    architecture (BERT, RoBERTa, XLM-RoBERTa, ALBERT, ALBERT).
``CLASSIFIER_CHECKPOINT`` (default: unset)
    Path to the Detoxify checkpoint (``.ckpt``). Unset: detoxify's released
    file for the model type in the torch hub cache
    (``$TORCH_HOME/hub/checkpoints/``, e.g. ``toxic_original-c1212f89.ckpt``);
    nothing is ever downloaded.
``CLASSIFIER_CHECKPOINT_SHA256`` (default: unset)
    Expected SHA-256 of the checkpoint file (64 hex digits, optionally
    prefixed ``sha256:``). Checkpoints are unpickled with
    ``weights_only=False``, so a file whose hash differs is refused; an
    unpinned one is refused too unless ``CLASSIFIER_ALLOW_UNPINNED`` is set.
``CLASSIFIER_CONFIG_DIR`` (default: unset)
    Directory with the Hugging Face ``config.json`` and tokenizer files of the
    model (e.g. those of ``bert-base-uncased`` for ``original``). Set it for
    fully offline loading; unset, they are resolved through the Hugging Face
    hub/cache.
``CLASSIFIER_DEVICE`` (default ``"cpu"``)
    torch device.
``CLASSIFIER_THREADS`` (default: unset = number of CPUs available)
    torch intra-op threads. Process-wide setting.
``CLASSIFIER_BATCH_SIZE`` (default ``16``)
    Size of a forward pass, in full 512-token windows: a batch holds at most
    that many windows' worth of tokens (shorter texts are packed more densely).
``CLASSIFIER_PRECISION`` (default ``"fp32"``)
    ``fp32`` (full precision) or ``bf16`` (bfloat16 matrix multiplications:
    several times faster on CPUs with AMX, e.g. Xeon Sapphire Rapids or
    newer, about twice as fast with AVX512-BF16 only, e.g. AMD Zen 4, and
    slower than fp32 on CPUs with neither). With the torch runtime bf16
    stayed within 0.014 of fp32 on the benchmark models; with openvino it is
    faster but moved scores by up to 0.03 (see bench/CLASSIFIER.md).
``CLASSIFIER_RUNTIME`` (default ``"torch"``)
    Where the forward passes run: ``torch`` (the loaded Detoxify model as it
    is) or ``openvino`` (the loaded model converted at start-up, ~2-10 s, into
    an OpenVINO CPU model: the fastest setting; needs the optional ``openvino``
    extra). Combined with ``CLASSIFIER_PRECISION``.
``CLASSIFIER_ALLOW_UNPINNED`` (default ``false``)
    ``true``/``1``/``yes``/``on`` allows loading a checkpoint without a
    SHA-256 pin. Only for development.

Texts longer than 512 tokens are scored in overlapping windows (64 tokens
overlap) and each label's maximum over the windows is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import DETOXIFY_LABELS, Classifier, ClassifierUnavailable

__all__ = [
    "DEFAULTS",
    "DETOXIFY_LABELS",
    "Classifier",
    "ClassifierUnavailable",
    "load_classifier",
]

#: Defaults of the configuration keys.
DEFAULTS: dict[str, Any] = {
    "CLASSIFIER_MODEL_TYPE": "original",
    "CLASSIFIER_CHECKPOINT": None,
    "CLASSIFIER_CHECKPOINT_SHA256": None,
    "CLASSIFIER_CONFIG_DIR": None,
    "CLASSIFIER_DEVICE": "cpu",
    "CLASSIFIER_THREADS": None,
    "CLASSIFIER_BATCH_SIZE": 16,
    "CLASSIFIER_PRECISION": "fp32",
    "CLASSIFIER_RUNTIME": "torch",
    "CLASSIFIER_ALLOW_UNPINNED": False,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _get(settings: Mapping[str, Any], key: str) -> Any:
    value = settings.get(key, DEFAULTS[key])
    if isinstance(value, str):
        value = value.strip()
        if value == "" and key not in ("CLASSIFIER_ALLOW_UNPINNED",):
            return DEFAULTS[key]
    return value


def _int(settings: Mapping[str, Any], key: str) -> int | None:
    value = _get(settings, key)
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise ClassifierUnavailable(f"{key} must be an integer, got {value!r}") from None


def _bool(settings: Mapping[str, Any], key: str) -> bool:
    value = _get(settings, key)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ClassifierUnavailable(f"{key} must be true/false, got {value!r}")


def load_classifier(settings: Mapping[str, Any]) -> Classifier:
    """Build the classifier described by ``settings`` (e.g. ``app.config``).

    Loads the model now (once per process). Raises
    :class:`ClassifierUnavailable` if it cannot be loaded.
    """
    from .detoxify_backend import DetoxifyClassifier  # deferred: it loads torch (seconds)

    return DetoxifyClassifier(
        model_type=str(_get(settings, "CLASSIFIER_MODEL_TYPE")).lower(),
        checkpoint=_get(settings, "CLASSIFIER_CHECKPOINT"),
        checkpoint_sha256=_get(settings, "CLASSIFIER_CHECKPOINT_SHA256"),
        config_dir=_get(settings, "CLASSIFIER_CONFIG_DIR"),
        device=str(_get(settings, "CLASSIFIER_DEVICE")),
        threads=_int(settings, "CLASSIFIER_THREADS"),
        batch_size=_int(settings, "CLASSIFIER_BATCH_SIZE"),
        precision=str(_get(settings, "CLASSIFIER_PRECISION")).lower(),
        runtime=str(_get(settings, "CLASSIFIER_RUNTIME")).lower(),
        allow_unpinned=_bool(settings, "CLASSIFIER_ALLOW_UNPINNED"),
    )
