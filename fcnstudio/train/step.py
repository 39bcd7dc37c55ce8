"""One optimisation step, the log of its losses, and the hooks that let a stop land inside a step.

Host reads. On a GPU every ``.item()``, ``bool(tensor)`` or ``.cpu()`` waits
for the device to finish its queued work, so :class:`TrainStep` reads nothing
to the host on CUDA: each step's loss stays a device tensor in
:class:`LossLog` until the trainer reads the whole log at once, when it emits
a step event (every ``step_event_interval_s`` seconds or ``step_event_every``
steps), before an evaluation and at the end. A NaN/Inf loss shows at that read
(the monitor's ``loss-nan``) and counts towards the run's limit of non-finite
steps there. On the CPU a read costs nothing, so the step checks the loss at
once, as before.

A non-finite step changes no weight. Checked on the host, the step is
skipped: no backward for a non-finite loss, no optimiser step for a
non-finite gradient norm. Kept on the device, the gradients of such a step are
zeroed (a device-side mask) before the optimiser step, which then moves the
weights only by AdamW's momentum and decay, and the logged loss is NaN.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch

from .errors import Stopped

__all__ = ["LossLog", "TrainStep", "add_stop_hooks", "is_out_of_memory"]


class TrainStep:
    """Forward, loss, backward, gradient clipping and the optimiser step of one batch.

    ``check_on_host``: read the loss and the gradient norm to the host each step (free on the CPU);
    else keep them on the device (see the module docstring). ``autocast``: the context the forward pass runs
    in (:meth:`~.precision.Precision.autocast`); the loss is computed in float32 on its output.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, grad_clip: float | None,
                 check_on_host: bool, autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
                 ) -> None:
        self.model = model
        self.autocast = autocast
        self.optimizer = optimizer
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.max_norm = grad_clip or math.inf
        self.check_on_host = check_on_host

    def __call__(self, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, bool | None]:
        """The detached loss (NaN when the step was not taken) and whether it was finite (None: not read)."""
        with self.autocast():
            out = self.model(x)
        loss = loss_fn(out.float(), y)
        if self.check_on_host:
            return self._checked(loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        bad = ~(torch.isfinite(loss) & torch.isfinite(norm))  # a 0-d device tensor: no host read
        for p in self.params:
            if p.grad is not None:
                p.grad.masked_fill_(bad, 0.0)
        self.optimizer.step()
        return loss.detach().masked_fill(bad, math.nan), None

    def _checked(self, loss: torch.Tensor) -> tuple[torch.Tensor, bool]:
        if not bool(torch.isfinite(loss)):
            return loss.detach(), False
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        if not bool(torch.isfinite(norm)):
            return torch.full_like(loss, math.nan).detach(), False
        self.optimizer.step()
        return loss.detach(), True


class LossLog:
    """The losses of the steps since the last read, kept as tensors; :meth:`read` is the one host sync.

    :attr:`nan_run` counts the non-finite steps in a row: at once for losses checked on the host,
    at the read for the others.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, torch.Tensor, bool | None]] = []
        self.nan_run = 0

    def add(self, step: int, loss: torch.Tensor, finite: bool | None) -> None:
        self.pending.append((step, loss, finite))
        if finite is not None:
            self.nan_run = 0 if finite else self.nan_run + 1

    def read(self) -> list[tuple[int, float]]:
        """``(step, loss)`` of every pending step, as host floats; empties the log."""
        if not self.pending:
            return []
        values = torch.stack([t for _, t, _ in self.pending]).float().cpu().tolist()
        out = []
        for (step, _, finite), v in zip(self.pending, values):
            if finite is None:
                self.nan_run = 0 if math.isfinite(v) else self.nan_run + 1
            out.append((step, v))
        self.pending = []
        return out


def add_stop_hooks(model: torch.nn.Module, stop_requested: Callable[[], bool]) -> list:
    """Let a stop interrupt a long step: a check before every convolution, and in backward when each
    convolution's weight gradient arrives (the aborted step changes no weight). Returns the handles."""
    def forward_hook(module, inputs):
        if stop_requested():
            raise Stopped()

    def grad_hook(grad):
        if stop_requested():
            raise Stopped()
        return None

    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    hooks = [m.register_forward_pre_hook(forward_hook) for m in convs]
    return hooks + [m.weight.register_hook(grad_hook) for m in convs if m.weight.requires_grad]


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text
