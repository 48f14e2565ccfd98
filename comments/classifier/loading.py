"""Loading a Detoxify checkpoint: the SHA-256 pin, offline loading, the architecture check.

detoxify loads checkpoints with ``torch.load(weights_only=False)``, i.e. unpickling can run
arbitrary code. The checkpoint is therefore read into memory once, its SHA-256 is compared with
the configured pin, and only those verified bytes are handed to detoxify (so the file cannot be
swapped between check and load). An unpinned checkpoint is refused unless explicitly allowed.

detoxify 0.5.4's ``get_model_and_tokenizer`` always calls
``config_class.from_pretrained("bert-base-uncased", ...)`` (a Hugging Face hub look-up) even when
``huggingface_config_path`` is given. While the ``Detoxify`` object is being constructed, that
one function is swapped (under a lock) for an equivalent that reads the config and tokenizer only
from the local config directory (``local_files_only=True``).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .base import ClassifierUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_TYPES",
    "PATCH_LOCK",
    "check_architecture",
    "default_checkpoint_path",
    "load_detoxify",
    "normalise_sha256",
    "read_verified",
    "sha256_file",
]

#: Detoxify model types and the transformers architecture their checkpoints use.
MODEL_TYPES: dict[str, str] = {
    "original": "BertForSequenceClassification",
    "unbiased": "RobertaForSequenceClassification",
    "multilingual": "XLMRobertaForSequenceClassification",
    "original-small": "AlbertForSequenceClassification",
    "unbiased-small": "AlbertForSequenceClassification",
}

#: Held while a third-party module is patched for a moment (here, and while openvino is imported).
PATCH_LOCK = threading.Lock()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file (what ``CLASSIFIER_CHECKPOINT_SHA256`` must be)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_checkpoint_path(model_type: str) -> Path:
    """Where ``torch.hub`` would have cached detoxify's released checkpoint.

    Used when no checkpoint is configured; nothing is ever downloaded.
    """
    import torch  # deferred: torch and the model load only where a classifier is used
    from detoxify.detoxify import MODEL_URLS  # deferred: torch and the model load only where a classifier is used

    filename: str = MODEL_URLS[model_type].rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def normalise_sha256(value: str) -> str:
    """The pin as 64 lower-case hex digits (an optional ``sha256:`` prefix dropped)."""
    value = str(value).strip().lower().removeprefix("sha256:")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ClassifierUnavailable(
            f"checkpoint SHA-256 pin must be 64 hex digits (optionally prefixed 'sha256:'), got {value!r}"
        )
    return value


def read_verified(path: Path, pin: str | None, allow_unpinned: bool) -> tuple[bytes, str]:
    """The checkpoint's bytes and SHA-256, if they match the pin (or unpinned is allowed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ClassifierUnavailable(f"classifier checkpoint {str(path)!r} not found") from exc
    except OSError as exc:
        raise ClassifierUnavailable(f"cannot read classifier checkpoint {str(path)!r}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if pin is not None:
        if actual != pin:
            raise ClassifierUnavailable(
                f"classifier checkpoint {str(path)!r} has SHA-256 {actual}, "
                f"but the configured pin is {pin}; refusing to load it"
            )
    elif not allow_unpinned:
        raise ClassifierUnavailable(
            f"refusing to load unpinned classifier checkpoint {str(path)!r} (it is unpickled with "
            f"weights_only=False): set the SHA-256 pin to {actual} if you trust this file, "
            "or explicitly allow unpinned checkpoints"
        )
    else:
        log.warning("loading UNPINNED classifier checkpoint %s (sha256 %s)", path, actual)
    return data, actual


def _offline_get_model_and_tokenizer(
    model_type: str,
    model_name: str,
    tokenizer_name: str,
    num_classes: int,
    state_dict: dict[str, Any],
    huggingface_config_path: str | os.PathLike[str] | None = None,
) -> tuple[Any, Any]:
    """Same contract as detoxify's function, but never touches the hub.

    ``model_type`` (e.g. ``"bert-base-uncased"``) is only used by the original
    for the hub look-up, which is exactly what is skipped here.
    """
    import transformers  # deferred: torch and the model load only where a classifier is used

    if huggingface_config_path is None:  # pragma: no cover - only patched in with a config dir
        raise ClassifierUnavailable("offline loading needs a config directory")
    model_class = getattr(transformers, model_name)
    config = model_class.config_class.from_pretrained(
        huggingface_config_path, num_labels=num_classes, local_files_only=True
    )
    # no "Loading weights" progress bar in the service's logs
    bar = transformers.utils.logging.is_progress_bar_enabled()
    # (transformers leaves these two unannotated.)
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model = model_class.from_pretrained(None, config=config, state_dict=state_dict, local_files_only=True)
    finally:
        if bar:
            transformers.utils.logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer = getattr(transformers, tokenizer_name).from_pretrained(huggingface_config_path, local_files_only=True)
    return model, tokenizer


@contextmanager
def _offline_detoxify_loading() -> Iterator[None]:
    """Swap in the offline loader for the duration of a ``Detoxify(...)`` call."""
    module: Any = importlib.import_module("detoxify.detoxify")  # untyped
    with PATCH_LOCK:
        original = module.get_model_and_tokenizer
        module.get_model_and_tokenizer = _offline_get_model_and_tokenizer
        try:
            yield
        finally:
            module.get_model_and_tokenizer = original


def load_detoxify(data: bytes, *, model_type: str, device: str, config_dir: Path | None, source: Path) -> Any:
    """A ``detoxify.Detoxify`` built from the verified checkpoint bytes ``data`` (read from ``source``)."""
    try:
        from detoxify import Detoxify  # deferred: torch and the model load only where a classifier is used

        kwargs: dict[str, Any] = {
            "model_type": model_type,
            "checkpoint": io.BytesIO(data),  # the verified bytes, not the path
            "device": device,
        }
        if config_dir is None:
            return Detoxify(**kwargs)
        with _offline_detoxify_loading():
            return Detoxify(**kwargs, huggingface_config_path=str(config_dir))
    except ClassifierUnavailable:
        raise
    except Exception as exc:
        raise ClassifierUnavailable(
            f"cannot load detoxify model from {str(source)!r}"
            f" (config dir {str(config_dir) if config_dir else 'hub/cache'}): {exc}"
        ) from exc


def check_architecture(model: Any, model_type: str, source: Path) -> None:
    """Refuse a checkpoint whose architecture is not the one ``model_type`` names."""
    expected = MODEL_TYPES[model_type]
    actual = type(model).__name__
    if actual != expected:
        matching = sorted(t for t, a in MODEL_TYPES.items() if a == actual)
        raise ClassifierUnavailable(
            f"checkpoint {str(source)!r} holds a {actual}, but model_type "
            f"{model_type!r} expects {expected}"
            + (f" (use model_type {' or '.join(map(repr, matching))})" if matching else "")
        )
