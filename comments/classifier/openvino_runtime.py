"""The OpenVINO runtime: the loaded torch model converted once, at start-up, and compiled for the CPU.

Same weights, same graph; fused kernels, bfloat16 on AMX or AVX512-BF16 where the CPU has them.
The tokenisation, windows and passes are the same as with the torch runtime.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .base import ClassifierUnavailable
from .loading import PATCH_LOCK

log = logging.getLogger(__name__)

__all__ = ["RUNTIMES", "OpenVINOForward", "import_openvino"]

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


def import_openvino() -> Any:
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
    with PATCH_LOCK:
        blocked = "openvino_telemetry" not in sys.modules
        if blocked:
            sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        try:
            import openvino  # optional: the openvino extra
            import openvino.tools.ovc  # optional: the openvino extra (its model converter)
        except ImportError as exc:
            raise ClassifierUnavailable(
                "runtime 'openvino' needs the openvino package (pip install 'comments[openvino]')"
            ) from exc
        finally:
            if blocked and sys.modules.get("openvino_telemetry", 0) is None:
                del sys.modules["openvino_telemetry"]
    return openvino


class OpenVINOForward:
    """The loaded torch model, converted to OpenVINO and compiled for the CPU.

    Called like the torch model with ``input_ids``/``attention_mask``
    (``token_type_ids``) tensors; returns the logits as a float32 tensor.
    One infer request, used under the classifier's lock.
    """

    def __init__(self, model: Any, input_names: Sequence[str], precision: str, threads: int) -> None:
        import torch  # deferred: torch and the model load only where a classifier is used

        ov = import_openvino()
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
        import torch  # deferred: torch and the model load only where a classifier is used

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
        import torch  # deferred: torch and the model load only where a classifier is used

        feed = {name: inputs[name].numpy() for name in self.names}
        result = self.request.infer(feed)
        return torch.from_numpy(result[self.output].copy())
