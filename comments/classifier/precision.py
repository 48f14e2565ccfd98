"""Precision of the torch forward passes: ``fp32`` as loaded, or ``bf16`` mixed precision."""

from __future__ import annotations

import functools
from typing import Any

from .base import ClassifierUnavailable

__all__ = ["PRECISIONS", "apply_precision"]

#: Supported ``precision`` settings.
#:
#: * ``fp32``: full precision (reference).
#: * ``bf16``: the encoder's matrix multiplications in bfloat16 (mixed
#:   precision, see :func:`apply_precision`). Fast on CPUs with AMX (Xeon
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


def apply_precision(model: Any, precision: str, device: str = "cpu") -> None:
    """Convert ``model`` in place for ``precision``.

    ``bf16`` is mixed precision, limited to the encoder: its Linear weights
    are stored in bfloat16 and it runs under ``torch.autocast(bfloat16)``, so
    the matrix multiplications (and attention) run in bfloat16 while the
    residual stream and LayerNorm stay float32; embeddings, pooler and
    classification head stay float32. This is as fast as converting the whole
    model to bfloat16 and about 3x closer to the fp32 scores.
    """
    import torch  # deferred: torch and the model load only where a classifier is used

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
