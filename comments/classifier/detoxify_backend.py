"""Detoxify-backed :class:`~comments.classifier.base.Classifier`: the parts put together.

The model and tokenizer are held by a real :class:`detoxify.Detoxify` object
(``DetoxifyClassifier.detoxify``), loaded offline from a SHA-256-pinned checkpoint
(:mod:`.loading`). The forward passes run in torch at the configured precision (:mod:`.precision`)
or in OpenVINO (:mod:`.openvino_runtime`).

Scoring (:meth:`DetoxifyClassifier.score`) does not go through ``Detoxify.predict`` (which
truncates at 512 tokens and is not thread-safe); it uses the same model and tokenizer with a
lock, ``torch.inference_mode()`` and the plan of :mod:`.planner`: sliding 512-token windows for
long texts (per-label maximum over the windows) grouped into length-sorted forward passes.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from . import planner
from .base import ClassifierUnavailable
from .loading import (
    MODEL_TYPES,
    check_architecture,
    default_checkpoint_path,
    load_detoxify,
    normalise_sha256,
    read_verified,
)
from .openvino_runtime import RUNTIMES, OpenVINOForward
from .precision import PRECISIONS, apply_precision

log = logging.getLogger(__name__)

__all__ = ["DetoxifyClassifier"]


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


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
        windows_per_pass: size of a forward pass in full-length windows (a pass
            holds at most that many windows' worth of padded tokens).
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
        windows_per_pass: int = 16,
        precision: str = "fp32",
        allow_unpinned: bool = False,
        runtime: str = "torch",
    ) -> None:
        if model_type not in MODEL_TYPES:
            raise ClassifierUnavailable(f"unknown model_type {model_type!r}; expected one of {sorted(MODEL_TYPES)}")
        if precision not in PRECISIONS:
            raise ClassifierUnavailable(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
        if runtime not in RUNTIMES:
            raise ClassifierUnavailable(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
        if runtime == "openvino" and device != "cpu":
            raise ClassifierUnavailable(f"runtime 'openvino' runs on the CPU only, not on device {device!r}")
        if not isinstance(windows_per_pass, int) or windows_per_pass < 1:
            raise ClassifierUnavailable(f"windows_per_pass must be a positive integer, got {windows_per_pass!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ClassifierUnavailable(f"threads must be a positive integer, got {threads!r}")

        self.model_type = model_type
        self.precision = precision
        self.runtime = runtime
        self.windows_per_pass = windows_per_pass
        self.device = device
        self.threads = threads or _default_threads()
        self.name = f"detoxify-{model_type}"
        self._lock = threading.Lock()

        try:
            import torch  # deferred: torch and the model load only where a classifier is used

            torch.set_num_threads(self.threads)
        except Exception as exc:  # pragma: no cover - torch missing / broken
            raise ClassifierUnavailable(f"cannot initialise torch: {exc}") from exc

        if self.threads == 1:
            # The fast tokenizer has a thread pool of its own (Rust), which on a busy machine costs
            # more CPU than it saves (~20% more per comment measured on 2 cores): one thread
            # means one thread. An operator's own setting stands.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

        pin = normalise_sha256(checkpoint_sha256) if checkpoint_sha256 else None
        if config_dir is not None and not Path(config_dir).is_dir():
            raise ClassifierUnavailable(f"classifier config directory {str(config_dir)!r} does not exist")
        self.config_dir = Path(config_dir) if config_dir is not None else None

        path = Path(checkpoint) if checkpoint is not None else default_checkpoint_path(model_type)
        self.checkpoint_path = path
        data, self.sha256 = read_verified(path, pin, allow_unpinned)
        self.version = f"sha256:{self.sha256[:12]}"

        self.detoxify = load_detoxify(
            data, model_type=model_type, device=device, config_dir=self.config_dir, source=path
        )
        del data

        model = self.detoxify.model
        check_architecture(model, model_type, path)
        self.labels: tuple[str, ...] = tuple(self.detoxify.class_names)
        if model.config.num_labels < len(self.labels):
            raise ClassifierUnavailable(
                f"model has {model.config.num_labels} outputs but the checkpoint names {len(self.labels)} classes"
            )

        try:
            model.eval()
            self._prepare_tokenisation()
            if runtime == "openvino":
                self._forward = OpenVINOForward(model, self._input_names(), precision, self.threads)
            else:
                apply_precision(model, precision, device)
                self._forward = model
            self.pass_cost_tokens = planner.PASS_COST_BOUNDS[0]  # until measured: small passes
            self._score_locked(["warm-up"])  # fail fast, and initialise kernels
            self.pass_cost_tokens = self._measure_pass_cost()
        except ClassifierUnavailable:
            raise
        except Exception as exc:
            raise ClassifierUnavailable(f"cannot prepare classifier ({runtime}, {precision}): {exc}") from exc
        log.info(
            "loaded classifier %s %s from %s (runtime=%s, precision=%s, threads=%d, windows_per_pass=%d, window=%d,"
            " pass cost %d tokens)",
            self.name,
            self.version,
            path,
            runtime,
            precision,
            self.threads,
            windows_per_pass,
            self.window,
            self.pass_cost_tokens,
        )

    def _prepare_tokenisation(self) -> None:
        tok = self.detoxify.tokenizer
        config = self.detoxify.model.config
        window = planner.MAX_WINDOW
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
                prefix, suffix = tuple(full[:i]), tuple(full[i + len(plain) :])
                break
        else:  # pragma: no cover - exotic tokenizer
            raise ClassifierUnavailable("cannot determine the tokenizer's special tokens")
        try:
            self.windowing = planner.Windowing(window, prefix, suffix)
        except ValueError as exc:
            raise ClassifierUnavailable(str(exc)) from None
        self.window = window  # tokens per window, special tokens included
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
        from the best of a few timings of a one-row pass and a many-row pass (about a second
        for a bert-base model on 2 cores): cost = fixed + per_token * padded tokens. Only how texts
        are grouped into passes depends on it, never the scores.

        The estimate is the median of five, each from its own timings: on a busy machine a single
        estimate came out anywhere between 44 and 4096 (the upper bound) for a bert-base model
        whose quiet value is 28, and 4096 doubles the padded tokens of a batch of comments (and
        nearly triples its attention work): torch fp32 ``score()`` then runs at about half its
        speed (bench/README.md, "Perspective-compatible analyze").
        """
        import torch  # deferred: torch and the model load only where a classifier is used

        width = min(64, self.window)
        rows = 4
        prefix = self.windowing.prefix

        device = self.detoxify.model.device

        def best_seconds(n_rows: int, n_tokens: int) -> float:
            ids = torch.full((n_rows, n_tokens), prefix[0] if prefix else 1, dtype=torch.long, device=device)
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

        estimates = []
        for _ in range(5):
            one = best_seconds(1, 8)
            many = best_seconds(rows, width)
            estimates.append(planner.pass_cost_from_timings(one, many, small_tokens=8, many_tokens=rows * width))
        return int(statistics.median(estimates))

    # -- scoring --------------------------------------------------------------

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
        encoded = self._encode_locked(texts, offsets=False)[0]
        work = planner.plan(
            encoded, self.windowing, windows_per_pass=self.windows_per_pass, pass_cost_tokens=self.pass_cost_tokens
        )
        pass_scores = [self._run_pass_locked([work.windows[k] for k in chunk]) for chunk in work.passes]
        return [dict(zip(self.labels, row)) for row in planner.reassemble(work, pass_scores)]

    # -- the parts of a score() call, for a caller that plans passes itself --------------------
    # (comments.tasks.analyzer batches several callers' windows into shared passes.)

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Each text's token ids (no special tokens) and each token's ``(begin, end)`` character
        indices into its text (Python ``str`` indices, i.e. code points)."""
        try:
            with self._lock:
                return self._encode_locked(list(texts), offsets=True)
        except Exception as exc:
            raise ClassifierUnavailable(f"classifier {self.name} failed to tokenise: {exc}") from exc

    def run_pass(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        """One forward pass over ``windows`` (token ids with the special tokens, as
        ``windowing.split`` makes them): one row of label probabilities per window, in order."""
        try:
            with self._lock:
                return self._run_pass_locked(windows)
        except Exception as exc:
            raise ClassifierUnavailable(f"classifier {self.name} failed to score: {exc}") from exc

    def _encode_locked(self, texts: list[str], *, offsets: bool) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        encoding = self.detoxify.tokenizer(
            texts,
            add_special_tokens=False,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            return_offsets_mapping=offsets,
        )
        spans = [[(int(a), int(b)) for a, b in row] for row in encoding["offset_mapping"]] if offsets else []
        return list(encoding["input_ids"]), spans

    def _run_pass_locked(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        import torch  # deferred: torch and the model load only where a classifier is used

        width = max(len(w) for w in windows)
        input_ids = torch.full((len(windows), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(windows), width), dtype=torch.long)
        for row, w in enumerate(windows):
            input_ids[row, : len(w)] = torch.tensor(w, dtype=torch.long)
            attention[row, : len(w)] = 1
        device = self.detoxify.model.device
        inputs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
        if self._token_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        with torch.inference_mode():
            logits = self._forward(**inputs)
            if not isinstance(logits, torch.Tensor):  # a transformers output
                logits = logits[0]
            rows: list[list[float]] = torch.sigmoid(logits.float())[:, : len(self.labels)].cpu().tolist()
        return rows

    def __repr__(self) -> str:
        return (
            f"DetoxifyClassifier(name={self.name!r}, version={self.version!r}, "
            f"runtime={self.runtime!r}, precision={self.precision!r}, threads={self.threads}, "
            f"windows_per_pass={self.windows_per_pass})"
        )
