"""Detoxify-backed :class:`~comments.classifier.base.Classifier`.

The model and tokenizer are held by a real :class:`detoxify.Detoxify` object
(``DetoxifyClassifier.detoxify``), built with detoxify's own
``Detoxify(model_type=..., checkpoint=..., device=..., huggingface_config_path=...)``.
Two things are added around it:

* **Offline loading.** detoxify 0.5.4's ``get_model_and_tokenizer`` always calls
  ``config_class.from_pretrained("bert-base-uncased", ...)`` (a Hugging Face hub
  look-up) even when ``huggingface_config_path`` is given. While the
  ``Detoxify`` object is being constructed, that one function is swapped (under
  a lock) for an equivalent that reads the config and tokenizer only from the
  local config directory (``local_files_only=True``).
* **Checkpoint pinning.** detoxify loads checkpoints with
  ``torch.load(weights_only=False)``, i.e. unpickling can run arbitrary code.
  The checkpoint is therefore read into memory once, its SHA-256 is compared
  with the configured pin, and only those verified bytes are handed to
  detoxify (so the file cannot be swapped between check and load). An
  unpinned checkpoint is refused unless ``allow_unpinned=True``.

Scoring (:meth:`DetoxifyClassifier.score`) does not go through
``Detoxify.predict`` (which truncates at 512 tokens and is not thread-safe);
it uses the same model and tokenizer with: a lock, sliding 512-token windows
for long texts (per-label maximum over the windows), length-sorted batching,
``torch.inference_mode()`` and optional reduced precision.

With ``runtime="openvino"`` the loaded Detoxify model is converted once, at
start-up, into an OpenVINO model (same weights, same graph; fused kernels,
bfloat16 on AMX or AVX512-BF16 where the CPU has them) and the forward passes run there; the
tokenisation, windows and batching are the same.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .base import ClassifierUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "DetoxifyClassifier",
    "MODEL_TYPES",
    "PRECISIONS",
    "RUNTIMES",
    "WINDOW_OVERLAP",
    "default_checkpoint_path",
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

#: Supported ``precision`` settings.
#:
#: * ``fp32``: full precision (reference).
#: * ``bf16``: the encoder's matrix multiplications in bfloat16 (mixed
#:   precision, see :func:`_apply_precision`). Fast on CPUs with AMX (Xeon
#:   Sapphire Rapids and later) and, less so, with AVX512-BF16 only (AMD Zen 4);
#:   slower than fp32 on CPUs with neither.
#:
#: int8 was measured and is not offered: torch / ONNX Runtime dynamic int8 and
#: OpenVINO static int8 (NNCF post-training quantisation, even with the head
#: and 5/12 of the encoder's matrix multiplications kept in fp32) moved scores
#: by 0.021-0.06 vs fp32 on bert-base-shaped models, over the 0.02 budget;
#: the variants that stayed within it were slower than bf16 (see
#: bench/CLASSIFIER.md).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

#: Supported ``runtime`` settings: where the forward passes run.
#:
#: * ``torch``: the Detoxify model as loaded (PyTorch eager).
#: * ``openvino``: the loaded model converted at start-up with
#:   ``openvino.convert_model`` and compiled for the CPU (needs the optional
#:   ``openvino`` extra). ``fp32`` is full float32 inference
#:   (``INFERENCE_PRECISION_HINT=f32``); ``bf16`` is OpenVINO's bfloat16
#:   inference (``INFERENCE_PRECISION_HINT=bf16``, AMX / AVX512-BF16), which
#:   also runs the layer norms, residual stream and head in bfloat16: faster
#:   than torch ``bf16`` but not reliably within 0.02 of fp32.
RUNTIMES: tuple[str, ...] = ("torch", "openvino")

#: Number of tokens shared by consecutive windows of a long text.
WINDOW_OVERLAP = 64
#: Upper bound on tokens per window (all Detoxify models are 512-token models).
MAX_WINDOW = 512
#: Bounds on the measured fixed cost of a forward pass, in tokens' worth of compute (see
#: :meth:`DetoxifyClassifier._measure_pass_cost`): a measurement disturbed by other work on the
#: machine cannot make batching degenerate (one pass per window, or one huge padded pass).
PASS_COST_BOUNDS = (8, 4096)

_PATCH_LOCK = threading.Lock()


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
    import torch  # deferred: torch takes seconds to load; only a process that scores needs it
    from detoxify.detoxify import MODEL_URLS  # deferred: detoxify loads torch

    filename = MODEL_URLS[model_type].rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _normalise_sha256(value: str) -> str:
    value = str(value).strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:") :]
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ClassifierUnavailable(
            f"checkpoint SHA-256 pin must be 64 hex digits (optionally prefixed 'sha256:'), got {value!r}"
        )
    return value


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------
# Offline replacement for detoxify.detoxify.get_model_and_tokenizer
# --------------------------------------------------------------------------


def _offline_get_model_and_tokenizer(
    model_type,
    model_name,
    tokenizer_name,
    num_classes,
    state_dict,
    huggingface_config_path=None,
):
    """Same contract as detoxify's function, but never touches the hub.

    ``model_type`` (e.g. ``"bert-base-uncased"``) is only used by the original
    for the hub look-up, which is exactly what is skipped here.
    """
    import transformers  # deferred: heavy (seconds to load)

    if huggingface_config_path is None:  # pragma: no cover - only patched in with a config dir
        raise ClassifierUnavailable("offline loading needs a config directory")
    model_class = getattr(transformers, model_name)
    config = model_class.config_class.from_pretrained(
        huggingface_config_path, num_labels=num_classes, local_files_only=True
    )
    # no "Loading weights" progress bar in the service's logs
    bar = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        model = model_class.from_pretrained(
            None, config=config, state_dict=state_dict, local_files_only=True
        )
    finally:
        if bar:
            transformers.utils.logging.enable_progress_bar()
    tokenizer = getattr(transformers, tokenizer_name).from_pretrained(
        huggingface_config_path, local_files_only=True
    )
    return model, tokenizer


@contextmanager
def _offline_detoxify_loading() -> Iterator[None]:
    """Swap in the offline loader for the duration of a ``Detoxify(...)`` call."""
    module = importlib.import_module("detoxify.detoxify")
    with _PATCH_LOCK:
        original = module.get_model_and_tokenizer
        module.get_model_and_tokenizer = _offline_get_model_and_tokenizer
        try:
            yield
        finally:
            module.get_model_and_tokenizer = original


# --------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------


def _apply_precision(model: Any, precision: str, device: str = "cpu") -> None:
    """Convert ``model`` in place for ``precision``.

    ``bf16`` is mixed precision, limited to the encoder: its Linear weights
    are stored in bfloat16 and it runs under ``torch.autocast(bfloat16)``, so
    the matrix multiplications (and attention) run in bfloat16 while the
    residual stream and LayerNorm stay float32; embeddings, pooler and
    classification head stay float32. This is as fast as converting the whole
    model to bfloat16 and about 3x closer to the fp32 scores.
    """
    import torch  # deferred: torch takes seconds to load; only a process that scores needs it

    if precision == "fp32":
        return
    if precision != "bf16":
        raise ClassifierUnavailable(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    encoder = getattr(model.base_model, "encoder", None)
    if not isinstance(encoder, torch.nn.Module):
        raise ClassifierUnavailable(f"precision 'bf16' is not supported for {type(model).__name__}")
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    device_type = torch.device(device).type
    inner = encoder.forward

    @functools.wraps(inner)
    def forward(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = inner(*args, **kwargs)
        hidden = out[0]
        if hidden.dtype != torch.float32:  # hand float32 on to the pooler and head
            if isinstance(out, tuple):
                return (hidden.float(), *out[1:])
            out["last_hidden_state"] = hidden.float()
        return out

    encoder.forward = forward


# --------------------------------------------------------------------------
# OpenVINO runtime
# --------------------------------------------------------------------------


def _import_openvino() -> Any:
    """``import openvino`` without its usage telemetry.

    Importing openvino imports its model converter (``openvino.tools.ovc``),
    which, through the ``openvino-telemetry`` package, sends usage events to
    Google Analytics on import and on every conversion unless a consent file
    in the user's home says no. A self-hosted service must not phone home: while
    openvino is first imported, ``openvino_telemetry`` is made unimportable, so
    the converter falls back to its own no-op telemetry stub for good.
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    with _PATCH_LOCK:
        blocked = "openvino_telemetry" not in sys.modules
        if blocked:
            sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        try:
            import openvino  # optional: the "openvino" extra
            import openvino.tools.ovc  # noqa: F401 - imported here, under the block
        except ImportError as exc:
            raise ClassifierUnavailable(
                "runtime 'openvino' needs the openvino package (pip install 'comments[openvino]')"
            ) from exc
        finally:
            if blocked and sys.modules.get("openvino_telemetry", 0) is None:
                del sys.modules["openvino_telemetry"]
    return openvino


class _OpenVINOForward:
    """The loaded torch model, converted to OpenVINO and compiled for the CPU.

    Called like the torch model with ``input_ids``/``attention_mask``
    (``token_type_ids``) tensors; returns the logits as a float32 tensor.
    One infer request, used under the classifier's lock.
    """

    def __init__(self, model: Any, input_names: Sequence[str], precision: str, threads: int) -> None:
        import torch  # deferred: torch takes seconds to load; only a process that scores needs it

        ov = _import_openvino()
        # Example inputs with padding, so the traced graph keeps the attention mask.
        example = {name: torch.zeros((2, 16), dtype=torch.long) for name in input_names}
        example["input_ids"] = torch.full((2, 16), 5, dtype=torch.long)
        example["attention_mask"] = torch.ones((2, 16), dtype=torch.long)
        example["attention_mask"][1, 9:] = 0
        tf_logger = logging.getLogger("transformers")
        level = tf_logger.level
        try:
            tf_logger.setLevel(logging.ERROR)  # tracing touches config attributes that log noise
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer warnings: the graph is checked below
                converted = ov.convert_model(model, example_input=example)
        finally:
            tf_logger.setLevel(level)
        self.compiled = ov.Core().compile_model(
            converted,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": threads,
            },
        )
        self.names = [inp.get_any_name() for inp in self.compiled.inputs]
        missing = [n for n in self.names if n not in input_names]
        if missing:  # pragma: no cover - the converter renamed inputs
            raise ClassifierUnavailable(f"OpenVINO model has unexpected inputs {missing}")
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]
        self._check_against(model, input_names, precision)

    def _check_against(self, model: Any, input_names: Sequence[str], precision: str) -> None:
        """Refuse a converted model whose scores differ from the torch model's.

        Checked on another shape than the traced one, with padding, so that a
        graph specialised to the example's shape or mask would be caught.
        """
        import torch  # deferred: torch takes seconds to load; only a process that scores needs it

        generator = torch.Generator().manual_seed(0)
        high = max(int(model.config.vocab_size), 2)
        inputs = {name: torch.zeros((3, 23), dtype=torch.long) for name in input_names}
        inputs["input_ids"] = torch.randint(1, high, (3, 23), generator=generator)
        inputs["attention_mask"] = torch.ones((3, 23), dtype=torch.long)
        inputs["attention_mask"][1, 7:] = 0
        inputs["attention_mask"][2, 15:] = 0
        with torch.inference_mode():
            expected = torch.sigmoid(model(**inputs)[0].float())
        actual = torch.sigmoid(self(**inputs))
        worst = float((expected - actual).abs().max())
        limit = 1e-4 if precision == "fp32" else 0.02
        if not worst <= limit:
            raise ClassifierUnavailable(
                f"the OpenVINO model's scores differ from the torch model's by {worst:.4g} (limit {limit})"
            )
        log.info("OpenVINO %s model checked against torch: max score difference %.2g", precision, worst)

    def __call__(self, **inputs: Any) -> Any:
        import torch  # deferred: torch takes seconds to load; only a process that scores needs it

        feed = {name: inputs[name].numpy() for name in self.names}
        result = self.request.infer(feed)
        return torch.from_numpy(result[self.output].copy())


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------


class DetoxifyClassifier:
    """A Detoxify model, loaded once, scoring batches of texts.

    Args:
        model_type: one of :data:`MODEL_TYPES` (checked against the
            checkpoint's architecture).
        checkpoint: path to a Detoxify-format checkpoint (``{"config": ...,
            "state_dict": ...}``). ``None``: detoxify's released file for
            ``model_type`` in the torch hub cache (never downloaded).
        checkpoint_sha256: expected SHA-256 of the checkpoint file (64 hex
            digits, optional ``sha256:`` prefix).
        config_dir: directory holding the Hugging Face ``config.json`` and
            tokenizer files; loading is then fully offline. ``None`` lets
            detoxify resolve them through the Hugging Face hub/cache.
        device: torch device string (``"cpu"``).
        threads: torch intra-op threads (process-wide!); ``None``: number of
            CPUs available to the process.
        batch_size: size of a forward pass in full-length windows (a batch holds
            at most that many windows' worth of padded tokens).
        precision: one of :data:`PRECISIONS`.
        runtime: one of :data:`RUNTIMES` (``openvino`` needs the optional
            ``openvino`` package; CPU only).
        allow_unpinned: load a checkpoint without a SHA-256 pin (unsafe: the
            file is unpickled with ``weights_only=False``).

    Raises:
        ClassifierUnavailable: on any loading problem.
    """

    def __init__(
        self,
        model_type: str = "original",
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_sha256: str | None = None,
        config_dir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 16,
        precision: str = "fp32",
        allow_unpinned: bool = False,
        runtime: str = "torch",
    ) -> None:
        if model_type not in MODEL_TYPES:
            raise ClassifierUnavailable(
                f"unknown model_type {model_type!r}; expected one of {sorted(MODEL_TYPES)}"
            )
        if precision not in PRECISIONS:
            raise ClassifierUnavailable(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
        if runtime not in RUNTIMES:
            raise ClassifierUnavailable(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
        if runtime == "openvino" and device != "cpu":
            raise ClassifierUnavailable(f"runtime 'openvino' runs on the CPU only, not on device {device!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ClassifierUnavailable(f"batch_size must be a positive integer, got {batch_size!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ClassifierUnavailable(f"threads must be a positive integer, got {threads!r}")

        self.model_type = model_type
        self.precision = precision
        self.runtime = runtime
        self.batch_size = batch_size
        self.device = device
        self.threads = threads or _default_threads()
        self.name = f"detoxify-{model_type}"
        self._lock = threading.Lock()

        try:
            import torch  # deferred: torch takes seconds to load; only a process that scores needs it

            torch.set_num_threads(self.threads)
        except Exception as exc:  # pragma: no cover - torch missing / broken
            raise ClassifierUnavailable(f"cannot initialise torch: {exc}") from exc

        if self.threads == 1:
            # The fast tokenizer has a thread pool of its own (Rust), which on a busy machine costs
            # more CPU than it saves (~20% more per comment measured on 2 cores): one thread
            # means one thread. An operator's own setting stands.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

        pin = _normalise_sha256(checkpoint_sha256) if checkpoint_sha256 else None
        if config_dir is not None and not Path(config_dir).is_dir():
            raise ClassifierUnavailable(f"classifier config directory {str(config_dir)!r} does not exist")
        self.config_dir = Path(config_dir) if config_dir is not None else None

        path = Path(checkpoint) if checkpoint is not None else default_checkpoint_path(model_type)
        self.checkpoint_path = path
        data, self.sha256 = self._read_verified(path, pin, allow_unpinned)
        self.version = f"sha256:{self.sha256[:12]}"

        self.detoxify = self._load_detoxify(data)
        del data

        model = self.detoxify.model
        expected_arch = MODEL_TYPES[model_type]
        if type(model).__name__ != expected_arch:
            matching = sorted(t for t, a in MODEL_TYPES.items() if a == type(model).__name__)
            raise ClassifierUnavailable(
                f"checkpoint {str(path)!r} holds a {type(model).__name__}, but model_type "
                f"{model_type!r} expects {expected_arch}"
                + (f" (use model_type {' or '.join(map(repr, matching))})" if matching else "")
            )
        self.labels: tuple[str, ...] = tuple(self.detoxify.class_names)
        if model.config.num_labels < len(self.labels):
            raise ClassifierUnavailable(
                f"model has {model.config.num_labels} outputs but the checkpoint names {len(self.labels)} classes"
            )

        try:
            model.eval()
            self._prepare_tokenisation()
            if runtime == "openvino":
                self._forward = _OpenVINOForward(model, self._input_names(), precision, self.threads)
            else:
                _apply_precision(model, precision, device)
                self._forward = model
            self.pass_cost_tokens = PASS_COST_BOUNDS[0]  # until measured: small passes
            self._score_locked(["warm-up"])  # fail fast, and initialise kernels
            self.pass_cost_tokens = self._measure_pass_cost()
        except ClassifierUnavailable:
            raise
        except Exception as exc:
            raise ClassifierUnavailable(f"cannot prepare classifier ({runtime}, {precision}): {exc}") from exc
        log.info(
            "loaded classifier %s %s from %s (runtime=%s, precision=%s, threads=%d, batch_size=%d, window=%d,"
            " pass cost %d tokens)",
            self.name, self.version, path, runtime, precision, self.threads, batch_size, self.window,
            self.pass_cost_tokens,
        )

    # -- loading ------------------------------------------------------------

    @staticmethod
    def _read_verified(path: Path, pin: str | None, allow_unpinned: bool) -> tuple[bytes, str]:
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

    def _load_detoxify(self, data: bytes) -> Any:
        try:
            from detoxify import Detoxify  # deferred: loads torch and transformers

            kwargs: dict[str, Any] = dict(
                model_type=self.model_type,
                checkpoint=io.BytesIO(data),  # the verified bytes, not the path
                device=self.device,
            )
            if self.config_dir is None:
                return Detoxify(**kwargs)
            with _offline_detoxify_loading():
                return Detoxify(**kwargs, huggingface_config_path=str(self.config_dir))
        except ClassifierUnavailable:
            raise
        except Exception as exc:
            raise ClassifierUnavailable(
                f"cannot load detoxify model from {str(self.checkpoint_path)!r}"
                f" (config dir {str(self.config_dir) if self.config_dir else 'hub/cache'}): {exc}"
            ) from exc

    def _prepare_tokenisation(self) -> None:
        tok = self.detoxify.tokenizer
        config = self.detoxify.model.config
        window = MAX_WINDOW
        tok_max = getattr(tok, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 100_000:
            window = min(window, tok_max)
        positions = getattr(config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
                positions -= (config.pad_token_id or 0) + 1  # RoBERTa position ids start after padding_idx
            window = min(window, positions)
        # Special tokens around a single sequence, e.g. [CLS] ... [SEP] or <s> ... </s>.
        probe = "hello"
        plain = tok(probe, add_special_tokens=False)["input_ids"]
        full = tok(probe, add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(plain) + 1):
            if full[i : i + len(plain)] == plain:
                self._prefix, self._suffix = list(full[:i]), list(full[i + len(plain) :])
                break
        else:  # pragma: no cover - exotic tokenizer
            raise ClassifierUnavailable("cannot determine the tokenizer's special tokens")
        self.window = window  # tokens per window, special tokens included
        self._body = window - len(self._prefix) - len(self._suffix)
        self._step = self._body - min(WINDOW_OVERLAP, self._body // 2)
        if self._body < 8:
            raise ClassifierUnavailable(f"model window of {window} tokens is too small")
        pad = tok.pad_token_id
        self._pad_id = pad if pad is not None else 0
        self._token_types = "token_type_ids" in getattr(tok, "model_input_names", ())

    def _input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"] + (["token_type_ids"] if self._token_types else [])

    def _measure_pass_cost(self) -> int:
        """The fixed cost of one forward pass, in tokens' worth of compute, on this machine.

        What a pass costs beyond its tokens depends on everything at once: the model's size (a
        tiny model is mostly the Python of transformers' modules, a bert-base mostly reading its
        weights), the runtime, the precision and the CPU. So it is measured once, at start-up,
        from the best of a few timings of a one-row pass and a many-row pass (under a second
        for a bert-base model on 2 cores): cost = fixed + per_token * padded tokens. Only how texts
        are grouped into passes depends on it, never the scores.
        """
        import torch  # deferred: torch takes seconds to load; only a process that scores needs it

        width = min(64, self.window)
        rows = 4

        device = self.detoxify.model.device

        def best_seconds(n_rows: int, n_tokens: int) -> float:
            ids = torch.full((n_rows, n_tokens), self._prefix[0] if self._prefix else 1, dtype=torch.long,
                             device=device)
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if self._token_types:
                inputs["token_type_ids"] = torch.zeros_like(ids)
            timings = []
            with torch.inference_mode():
                for _ in range(3):
                    started = time.perf_counter()
                    self._forward(**inputs)
                    if device.type == "cuda":  # kernels run asynchronously: wait for them
                        torch.cuda.synchronize(device)
                    timings.append(time.perf_counter() - started)
            return min(timings)

        one = best_seconds(1, 8)
        many = best_seconds(rows, width)
        per_token = (many - one) / (rows * width - 8)
        low, high = PASS_COST_BOUNDS
        if per_token <= 0:  # disturbed: the larger pass was not slower
            return high
        return int(min(high, max(low, round(one / per_token - 8))))

    # -- scoring --------------------------------------------------------------

    def _windows(self, ids: list[int]) -> list[list[int]]:
        """Split token ids into windows of at most ``self._body`` tokens.

        Consecutive windows start ``self._step`` tokens apart, so they share
        ``WINDOW_OVERLAP`` tokens: any sentence of up to that many tokens lies
        entirely inside one window. The last window runs to the end (and may
        be shorter). Each window gets the model's special tokens.
        """
        body, step = self._body, self._step
        starts = [0]
        while starts[-1] + body < len(ids):
            starts.append(starts[-1] + step)
        return [self._prefix + ids[s : s + body] + self._suffix for s in starts]

    def _batches(self, windows: list[list[int]]) -> list[list[int]]:
        """Window indices grouped into batches (forward passes), longest first.

        Windows are sorted by length and cut into consecutive batches so as to
        minimise the estimated cost: per batch, a fixed cost (every pass reads
        all the weights and runs the model's Python code once; ``pass_cost_tokens``, measured at
        start-up) plus its padded tokens
        (rows x longest). Dynamic programming over the sorted lengths finds the
        cheapest cut. A batch holds at most ``batch_size`` full windows' worth
        of padded tokens and at most ``8 * batch_size`` rows.
        """
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]), reverse=True)
        lengths = [len(windows[k]) for k in order]
        n = len(lengths)
        budget = self.batch_size * self.window
        max_rows = 8 * self.batch_size
        fixed = self.pass_cost_tokens
        cost = [0.0] + [float("inf")] * n
        cut = [0] * (n + 1)
        for end in range(1, n + 1):
            # batch = order[start:end]; its longest window is lengths[start]
            for start in range(end - 1, max(-1, end - 1 - max_rows), -1):
                padded = (end - start) * lengths[start]
                if padded > budget and end - start > 1:
                    break
                c = cost[start] + fixed + padded
                if c < cost[end]:
                    cost[end], cut[end] = c, start
        batches: list[list[int]] = []
        end = n
        while end > 0:
            batches.append(order[cut[end] : end])
            end = cut[end]
        return batches[::-1]

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts; one ``{label: probability}`` per text, same order.

        Texts longer than the model window are split into overlapping windows
        and each label's maximum over the windows is returned.

        Raises:
            TypeError: ``texts`` is a single string or contains non-strings.
            ClassifierUnavailable: anything failing inside tokenizer/model.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("score() takes a sequence of strings, not a single string")
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"score() takes strings, got {type(t).__name__}")
        if not texts:
            return []
        try:
            with self._lock:
                return self._score_locked(texts)
        except ClassifierUnavailable:
            raise
        except Exception as exc:
            raise ClassifierUnavailable(f"classifier {self.name} failed to score: {exc}") from exc

    def _score_locked(self, texts: list[str]) -> list[dict[str, float]]:
        import torch  # deferred: torch takes seconds to load; only a process that scores needs it

        tok = self.detoxify.tokenizer
        forward = self._forward
        encoded = tok(
            texts,
            add_special_tokens=False,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

        owners: list[int] = []
        windows: list[list[int]] = []
        for i, ids in enumerate(encoded):
            for w in self._windows(list(ids)):
                owners.append(i)
                windows.append(w)

        n_labels = len(self.labels)
        best = torch.zeros(len(texts), n_labels)
        seen = [False] * len(texts)
        device = self.detoxify.model.device
        with torch.inference_mode():
            for chunk in self._batches(windows):
                width = len(windows[chunk[0]])
                input_ids = torch.full((len(chunk), width), self._pad_id, dtype=torch.long)
                attention = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, k in enumerate(chunk):
                    w = windows[k]
                    input_ids[row, : len(w)] = torch.tensor(w, dtype=torch.long)
                    attention[row, : len(w)] = 1
                inputs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
                if self._token_types:
                    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
                logits = forward(**inputs)
                if not isinstance(logits, torch.Tensor):  # a transformers output
                    logits = logits[0]
                probs = torch.sigmoid(logits.float())[:, :n_labels].cpu()
                for row, k in enumerate(chunk):
                    owner = owners[k]
                    if seen[owner]:
                        best[owner] = torch.maximum(best[owner], probs[row])
                    else:
                        best[owner] = probs[row]
                        seen[owner] = True
        best = best.clamp_(0.0, 1.0)
        return [dict(zip(self.labels, map(float, row))) for row in best.tolist()]

    def __repr__(self) -> str:
        return (
            f"DetoxifyClassifier(name={self.name!r}, version={self.version!r}, "
            f"runtime={self.runtime!r}, precision={self.precision!r}, threads={self.threads}, batch_size={self.batch_size})"
        )
