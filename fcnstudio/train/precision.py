"""How the network computes: bf16 autocast or float32, channels-last or contiguous memory.

On a CPU with native bf16 (AVX512-BF16 or AMX), autocast to bf16 runs a step
of the default network about 2.5x faster than float32, and channels-last
memory another ~1.3x (measured in ``docs/adr/0007-learning-per-cpu-minute.md``).
Without native bf16 the same autocast is emulated and slower than float32, so
``auto`` turns it on only where the processor reports it. The weights, the
optimiser and the loss stay float32 (autocast runs the convolutions in bf16;
the logits are cast back before the loss), so nothing about checkpoints changes.

Whatever is asked, :func:`choose` first runs one forward and backward of the
real network on a small batch with the chosen settings; if that raises or
gives a non-finite result, it falls back (bf16 → float32, then channels-last →
contiguous) and says so in :attr:`Precision.note`, which the trainer reports.

On CUDA, ``auto`` uses bf16 where the GPU supports it (no loss scaling is
needed), else float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Precision", "choose", "native_bf16"]


@dataclass(frozen=True)
class Precision:
    bf16: bool
    channels_last: bool
    #: what a user reads in the dock: the choice and, after a fall-back, why
    note: str = ""

    def autocast(self, device: torch.device):
        """The context a forward pass runs in (a no-op for float32)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    @property
    def label(self) -> str:
        return ("bf16" if self.bf16 else "float32") + (", channels-last" if self.channels_last else "")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CPU: AVX512-BF16 or AMX-BF16)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch: no way to ask, so no
        return False
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def _trial(model: torch.nn.Module, precision: Precision, in_channels: int, device: torch.device) -> bool:
    """One forward/backward of ``model`` on a 2 x C x 64 x 64 batch; False if it raises or is not finite.

    It changes BatchNorm's running statistics and leaves gradients: :func:`choose` restores the model."""
    was_training = model.training
    try:
        model.train()
        x = torch.randn(2, in_channels, 64, 64, device=device)
        with precision.autocast(device):
            out = model(x)
        loss = out.float().square().mean()
        loss.backward()
        return bool(torch.isfinite(loss))
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def choose(asked: str, channels_last: bool, model: torch.nn.Module, in_channels: int, device: torch.device,
           trial: Callable[[torch.nn.Module, Precision, int, torch.device], bool] = _trial) -> Precision:
    """The precision to train ``model`` with (``asked``: auto, bf16 or fp32), after a trial step; ``model``
    is converted to channels-last in place when that is used."""
    want_bf16 = asked == "bf16" or (asked == "auto" and native_bf16(device))
    why = "" if asked != "auto" else (" (the processor has native bf16)" if want_bf16
                                      else " (no native bf16 on this processor)")
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for bf16, cl in dict.fromkeys([(want_bf16, channels_last), (False, channels_last), (False, False)]):
        p = Precision(bf16, cl)
        p.prepare(model)
        ok = trial(model, p, in_channels, device)
        model.load_state_dict(saved)  # the trial's BatchNorm statistics go; the memory format stays
        if ok and (bf16, cl) == (want_bf16, channels_last):
            return Precision(bf16, cl, p.label + why)
        if ok:
            return Precision(bf16, cl, f"{p.label}: {Precision(want_bf16, channels_last).label} failed a trial "
                                       "step on this machine")
        model.to(memory_format=torch.contiguous_format)
    # even float32 fails: train as before and let the first step report the real error
    return Precision(False, False, "float32 (a trial step failed; see the run's error)")
