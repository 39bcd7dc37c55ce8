"""Mixed precision where it is safe: bfloat16 autocast on a CUDA GPU that has it, nothing elsewhere.

Training and prediction run the network under :func:`autocast`; losses and
softmax are computed in float32 (the output is cast up first). bfloat16 keeps
float32's exponent range, so nothing overflows that did not before and no
loss scaling is needed: the step's own NaN/Inf handling (:mod:`.step`) stays
as it is. A GPU without bfloat16 (before Ampere) trains in float32: float16
would need a GradScaler, whose skipped steps would mix with that handling.
Off on the CPU in this version.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast", "enabled"]


def enabled(device: torch.device) -> bool:
    """Whether :func:`autocast` changes anything on ``device``."""
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def autocast(device: torch.device):
    """A context in which the network runs in bfloat16 on a CUDA GPU that has it; a no-op elsewhere."""
    if enabled(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
