"""When things happen in a run: the budget, the learning-rate schedule, and when to emit or evaluate.

The budget: a run ends at the first of ``max_steps``, ``epochs`` (in steps)
and ``max_minutes`` of this session, paused time excluded. The schedule: a
linear warm-up, then a cosine decay to ``min_lr_fraction`` that follows the
budget's progress: the larger of the steps done and the time spent (no budget:
flat), so a ``max_minutes`` run reaches the end of its decay when its time is
up, however many steps the machine managed. The warm-up ends at
``warmup_steps`` or at :data:`WARMUP_SHARE` of the budget, whichever comes
first (a slow machine would otherwise spend a short budget warming up).
:class:`Cadence` keeps the clock: step events every ``step_event_interval_s``
seconds (or exactly every ``step_event_every`` steps), evaluations every
``eval_every_steps`` steps or ``eval_every_s`` seconds, whichever comes first,
but never sooner than :data:`EVAL_SHARE` times the last evaluation's duration.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from .config import TrainConfig

__all__ = ["EVAL_SHARE", "WARMUP_SHARE", "Cadence", "budget_spent", "budget_steps", "eta", "lr_at"]

#: Evaluations wait at least this many times the last one's duration, so they take at most ~10 % of the run
#: (it was 4, ~20 %: docs/adr/0007-learning-per-cpu-minute.md measured what that cost a 5-minute run).
EVAL_SHARE = 9.0
#: The warm-up takes at most this share of the budget (of its steps, or of its time).
WARMUP_SHARE = 0.05


def budget_steps(cfg: TrainConfig, steps_per_epoch: int) -> int | None:
    """The step budget: the smaller of max_steps and epochs in steps (None: no step budget)."""
    limits = [x for x in (cfg.max_steps, cfg.epochs * steps_per_epoch if cfg.epochs else None) if x is not None]
    return min(limits) if limits else None


def budget_spent(cfg: TrainConfig, step: int, budget: int | None, elapsed: float) -> bool:
    return bool((budget is not None and step >= budget) or (cfg.max_minutes and elapsed >= 60.0 * cfg.max_minutes))


def _progress(cfg: TrainConfig, step: int, budget: int | None, elapsed: float) -> float | None:
    parts = []
    if budget:
        parts.append(step / budget)
    if cfg.max_minutes:
        parts.append(elapsed / (60.0 * cfg.max_minutes))
    return min(1.0, max(parts)) if parts else None


def _warmup(cfg: TrainConfig, step: int, budget: int | None, elapsed: float) -> float:
    """How far the warm-up has come, 0..1: by steps, or by its share of the budget's steps or time."""
    if not cfg.warmup_steps:
        return 1.0
    steps = min(cfg.warmup_steps, max(1.0, WARMUP_SHARE * budget)) if budget else cfg.warmup_steps
    parts = [(step + 1) / steps]
    if cfg.max_minutes:
        parts.append(elapsed / (WARMUP_SHARE * 60.0 * cfg.max_minutes))
    return min(1.0, max(parts))


def lr_at(cfg: TrainConfig, base_lr: float, step: int, budget: int | None, elapsed: float) -> float:
    """The learning rate of the next step: warm-up, then cosine decay over the budget's progress."""
    lr = base_lr * _warmup(cfg, step, budget, elapsed)
    p = _progress(cfg, step, budget, elapsed)
    if p is not None:
        lr *= cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * p))
    return lr


def eta(cfg: TrainConfig, step: int, budget: int | None, elapsed: float, step_time: float) -> float | None:
    """Seconds left until the first budget limit (None: no limit)."""
    etas = []
    if budget:
        etas.append(max(0, budget - step) * step_time)
    if cfg.max_minutes:
        etas.append(max(0.0, 60.0 * cfg.max_minutes - elapsed))
    return min(etas) if etas else None


class Cadence:
    """The clock of one session: elapsed time without pauses, the last step event, the last evaluation."""

    def __init__(self, cfg: TrainConfig, step: int, now: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.t0 = now
        self.paused_s = 0.0
        self.last_emit_t, self.last_emit_step = now, step
        self.last_eval_t, self.last_eval_step = now, step
        self.eval_s = 0.0  # how long the last evaluation took

    def elapsed(self, now: float | None = None) -> float:
        return (self.clock() if now is None else now) - self.t0 - self.paused_s

    def hold(self, seconds: float) -> None:
        """Time spent paused counts for neither the budget nor the cadence."""
        if seconds:
            self.paused_s += seconds
            self.last_emit_t += seconds
            self.last_eval_t += seconds

    def step_event_due(self, step: int, now: float) -> bool:
        if self.cfg.step_event_every:
            return step - self.last_emit_step >= self.cfg.step_event_every
        return now - self.last_emit_t >= self.cfg.step_event_interval_s

    def emitted(self, step: int, now: float) -> None:
        self.last_emit_t, self.last_emit_step = now, step

    def eval_due(self, step: int, now: float) -> bool:
        since = now - self.last_eval_t
        return (step - self.last_eval_step >= self.cfg.eval_every_steps or since >= self.cfg.eval_every_s) \
            and since >= EVAL_SHARE * self.eval_s

    def evaluated(self, step: int, started: float, held: float) -> None:
        """An evaluation that began at ``started`` ended now, ``held`` seconds of it paused."""
        self.paused_s += held
        self.last_emit_t += held
        self.last_eval_step = step
        self.last_eval_t = self.clock()
        self.eval_s = self.last_eval_t - started - held
