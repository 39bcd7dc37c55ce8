"""Watch a training run for collapse, NaN, divergence and plateau: the rules, as small state machines.

:class:`Monitor` is fed every step's training loss (:meth:`Monitor.on_step`) and
every evaluation (:meth:`Monitor.on_eval`, an :class:`~.events.EvalEvent` or
any object with the same per-class attributes) and returns the
:class:`~.events.WarningEvent` objects to emit. It is plain Python + numpy,
deterministic, and decides only from the numbers it is given. What a warning
says (diagnosis, suggestions) is :mod:`.monitor_wording`; the thresholds are
:mod:`.monitor_thresholds`, and why they have their values is
``docs/adr/0002-monitor-thresholds.md``.

Collapse rules (on the eval numbers exactly; "present" = ``true_fraction > 0``,
"low" = ``pred_fraction < 0.1 * true_fraction``, "back" =
``pred_fraction >= 0.5 * true_fraction``; the first ``warmup_evals``
evaluations are ignored, and "in a row" counts evaluations after them):

- ``collapse-background``: at least one foreground class is present and every
  present foreground class is low, for 3 evaluations in a row.
- ``collapse-single-class``: one foreground class takes every labelled pixel
  (``pred_fraction >= 1 - 1e-6``) while the labels also hold another class,
  for 3 evaluations in a row (not necessarily the same class each time).
- ``class-never-predicted``: a present foreground class has been low for its
  last 3 evaluations, and at the current one the other present foreground
  classes are not all low and no class takes every pixel. One event per class.

A warning fires once, when its rule first holds, and stays *active* until one
of its classes is back; a class already covered by an active collapse warning
gets no second ``class-never-predicted``. When a warned class is back the
monitor emits ``collapse-recovered`` (severity ``info``, ``classes`` = those
back, ``clears`` = the code it ends) and the warning is cleared: it can fire
again later, and the classes of that warning that are not back are released
(they can be warned about again as ``class-never-predicted``). For
``collapse-single-class`` the warned classes are the other present classes,
background included. Between 0.1x and 0.5x nothing changes (hysteresis).

Loss rules (on the training loss of each step; "EMA" is a bias-corrected
exponential moving average with ``beta = 0.95``, i.e. ~20 steps):

- ``loss-nan``: a NaN/Inf training (or validation) loss; once, re-armed by the
  next finite loss.
- ``loss-diverging`` (blow-up): the median of the last 3 raw losses exceeds
  2.5x the loss of the untrained network (the first positive finite step's
  loss). Checked from the first step (warm-up included), once per run, and
  only for a network that started untrained (not after a resume or a change
  of loss). The rise rule stays disarmed until the smoothed loss is back
  below the untrained network's.
- ``loss-diverging`` (dead network): at 2 evaluations in a row after the
  warm-up, with at least two classes present in the labels, every class's
  probability spread (max minus min over the validation pixels) is under
  1e-3, while at an earlier evaluation some class spread at least 0.01 (so
  blank images never count). Needs ``EvalEvent.prob_spread``; once per run.
- ``loss-diverging`` (dead from the start): at each of the first 2
  evaluations (warm-up included), with at least two classes present, every
  class's probability spread is under 1e-3, and (a) the validation images
  vary (``EvalEvent.image_spread``, the largest intensity standard deviation
  of an image, at least 0.02 at both: blank images never count), or (b) the
  untrained network's output spread at least 0.01 in some class
  (``EvalEvent.untrained_spread``, measured before the first step of a fresh
  run). The message names the evidence; an eval without these fields (an old
  events.jsonl) gives none. Once per run, and it makes the lr the first
  suspect of the collapse warnings that follow.
- ``loss-diverging`` (rise): after ``loss_warmup_steps`` steps, both the EMA and the
  median of the last 10 raw losses exceed twice the lowest EMA seen after
  warm-up, by more than 10 % of the loss level at the end of warm-up.
  Re-armed when the EMA falls below 1.5x its minimum.
- ``loss-plateau`` (conservative): the EMA has not improved by 2 % on its best
  value for ``plateau_steps`` steps, at least 2 evaluations have run after
  warm-up, and the last one is poor (mean foreground IoU < 0.3; a NaN IoU,
  i.e. no foreground anywhere, is not poor). Re-armed by a new best EMA.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .events import WarningEvent
from .monitor_thresholds import (ALIVE_SPREAD, BLOWUP_FACTOR, BLOWUP_WINDOW, COLLAPSE_EVALS, DEAD_EVALS,
                                 DEAD_SPREAD, IMAGE_VARIES, LOW_FACTOR, RECOVER_FACTOR, SANE_LR, SINGLE_CLASS_TOL)
from .monitor_wording import Diagnosis

__all__ = ["COLLAPSE_CODES", "LOSS_CODES", "Monitor"]

COLLAPSE_CODES = ("collapse-background", "collapse-single-class", "class-never-predicted")
LOSS_CODES = ("loss-nan", "loss-diverging", "loss-plateau")


@dataclass
class _Active:
    """An active collapse warning: the classes it names and those whose return clears it."""

    code: str
    classes: tuple
    watch: frozenset


class Monitor(Diagnosis):
    """Collapse / divergence / plateau detection with diagnosis and suggestions.

    Parameters
    ----------
    num_classes, class_names:
        class 0 is background; names default to ``"class <i>"``.
    ignore_index:
        recorded for the diagnosis only (fractions arrive already computed).
    loss_name, lr:
        what the run uses now; change them with :meth:`set_loss` / :meth:`set_lr`.
    class_fractions_from_checker:
        per-class share of labelled pixels over the whole dataset (the checker's
        class statistics), or None if the checker was not run.
    warmup_evals:
        evaluations ignored by the collapse rules (a fresh network predicts noise).
    fresh_network:
        the network starts untrained, so its first loss is the reference for
        the blow-up rule (False when resuming from a checkpoint).
    uses_class_weights, loss_warmup_steps, plateau_steps, plateau_iou:
        keyword-only tuning; see the module docstring.
    """

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None,
                 ignore_index: int | None = None, loss_name: str = "dice+ce", lr: float = 1e-3,
                 class_fractions_from_checker: Sequence[float] | None = None,
                 warmup_evals: int = 1, *, fresh_network: bool = True, uses_class_weights: bool = False,
                 loss_warmup_steps: int = 20, plateau_steps: int = 500,
                 plateau_iou: float = 0.3) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = int(num_classes)
        names = list(class_names) if class_names is not None else \
            ["background"] + [f"class {i}" for i in range(1, num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"class_names has {len(names)} names for {num_classes} classes")
        self.class_names = names
        self.ignore_index = ignore_index
        self.loss_name = loss_name
        self.lr = float(lr)
        if class_fractions_from_checker is not None:
            cf = tuple(float(x) for x in class_fractions_from_checker)
            if len(cf) != num_classes:
                raise ValueError(f"class_fractions_from_checker has {len(cf)} values for {num_classes} classes")
            class_fractions_from_checker = cf
        self.checker_fractions = class_fractions_from_checker
        if warmup_evals < 0:
            raise ValueError(f"warmup_evals must be >= 0, got {warmup_evals}")
        self.warmup_evals = int(warmup_evals)
        self.uses_class_weights = uses_class_weights or loss_name == "weighted-ce"
        self.loss_warmup_steps = int(loss_warmup_steps)
        self.plateau_steps = int(plateau_steps)
        self.plateau_iou = float(plateau_iou)

        self.history: list[WarningEvent] = []
        # eval state
        self._evals_seen = 0
        self._low_streak = [0] * num_classes
        self._bg_streak = 0
        self._single_streak = 0
        self._active: list[_Active] = []
        self._eval_log: deque = deque(maxlen=8)   # (step, pred_fraction, max_prob) after warm-up
        self._last_fg_iou = math.nan
        self._evals_after_warmup = 0
        # loss state
        self._nan_armed = True
        self._blowup_armed = bool(fresh_network)
        self._untrained_loss: float | None = None
        self._lr_suspect = ""   # evidence that the lr wrecked the network (a blow-up, a dead network)
        self._blowup_window: deque = deque(maxlen=BLOWUP_WINDOW)
        self._rearm_below = math.inf  # after a blow-up: the rise rule re-arms only below the untrained loss
        self._constant_now = False    # the last evaluation's output was the same everywhere, lr to blame
        self._was_alive = False
        self._dead_streak = 0
        self._born_dead: dict | None = {}  # evidence while dead at every evaluation so far; None once not
        self._reset_loss_tracking()

    # ------------------------------------------------------------------ public

    @property
    def active(self) -> tuple:
        """Active collapse warnings as ``(code, classes)`` pairs, oldest first."""
        return tuple((a.code, a.classes) for a in self._active)

    def set_lr(self, lr: float) -> None:
        """The lr changed (e.g. a suggestion was applied): the plateau window restarts."""
        self.lr = float(lr)
        self._best_ema = self._ema_value()
        self._best_step = self._last_step
        self._plateau_armed = True

    def set_loss(self, loss_name: str, uses_class_weights: bool | None = None) -> None:
        """The loss changed: its scale changes, so loss tracking restarts from scratch."""
        self.loss_name = loss_name
        if uses_class_weights is not None:
            self.uses_class_weights = uses_class_weights
        self.uses_class_weights = self.uses_class_weights or loss_name == "weighted-ce"
        self._blowup_armed = False  # another loss, another scale: the untrained reference is gone
        self._reset_loss_tracking()

    def on_step(self, step: int, loss: float) -> list[WarningEvent]:
        """Feed one training step's loss; returns the warnings to emit (often none)."""
        loss = float(loss)
        self._last_step = int(step)
        out: list[WarningEvent] = []
        if not math.isfinite(loss):
            if self._nan_armed:
                self._nan_armed = False
                out.append(self._loss_nan(step, "training", loss))
            return self._emit(out)
        self._nan_armed = True
        if self._blowup_armed and self._diverge_armed:  # one loss-diverging per episode
            out += self._check_blowup(int(step), loss)
        self._n_steps += 1
        b = 0.95
        self._ema_raw = b * self._ema_raw + (1 - b) * loss
        ema = self._ema_value()
        self._recent.append(loss)
        self._trend.append((int(step), ema))
        if self._n_steps < self.loss_warmup_steps:
            return self._emit(out)
        if self._n_steps == self.loss_warmup_steps or self._ref is None:
            self._ref = ema
            self._min_ema = ema
            self._best_ema = ema
            self._best_step = int(step)
        self._min_ema = min(self._min_ema, ema)

        # divergence
        limit = 2.0 * self._min_ema
        rise = 0.1 * self._ref
        med = float(np.median(self._recent))
        if self._diverge_armed and ema > limit and med > limit and \
                ema - self._min_ema > rise and med - self._min_ema > rise:
            self._diverge_armed = False
            out.append(self._loss_diverging(step, ema))
        elif not self._diverge_armed and ema < 1.5 * self._min_ema and ema < self._rearm_below:
            self._diverge_armed = True

        # plateau
        if ema < self._best_ema * (1 - 0.02):
            self._best_ema = ema
            self._best_step = int(step)
            self._plateau_armed = True
        elif (self._plateau_armed and int(step) - self._best_step >= self.plateau_steps
              and self._evals_after_warmup >= 2 and self._last_fg_iou < self.plateau_iou):
            self._plateau_armed = False
            out.append(self._loss_plateau(step, ema))
        return self._emit(out)

    def on_eval(self, ev: Any) -> list[WarningEvent]:
        """Feed one evaluation (EvalEvent-like); returns warnings and recoveries to emit."""
        step = int(ev.step)
        true_f = self._per_class(ev, "true_fraction")
        pred_f = self._per_class(ev, "pred_fraction")
        max_p = self._per_class(ev, "max_fg_prob", required=False)
        iou = self._per_class(ev, "iou", required=False)
        out: list[WarningEvent] = []
        val_loss = getattr(ev, "val_loss", None)
        if val_loss is not None and not math.isfinite(float(val_loss)):
            if self._nan_armed:
                self._nan_armed = False
                out.append(self._loss_nan(step, "validation", float(val_loss)))
        self._evals_seen += 1
        if not self._watch_output(step, ev, true_f, out):
            return self._emit(out)  # still in the warm-up
        self._evals_after_warmup += 1
        fg_iou = [x for x in iou[1:] if math.isfinite(x)]
        self._last_fg_iou = sum(fg_iou) / len(fg_iou) if fg_iou else math.inf
        self._eval_log.append((step, pred_f, max_p))
        return self._emit(out + self._collapse_rules(step, true_f, pred_f))

    def _watch_output(self, step: int, ev: Any, true_f: tuple, out: list) -> bool:
        """The dead-network rule (appends to ``out``); False while the evaluation is in the warm-up."""
        spread = getattr(ev, "prob_spread", None)
        spread = self._per_class(ev, "prob_spread") if spread is not None and len(spread) else None
        two_present = sum(1 for t in true_f if t > 0) >= 2  # one class only: a constant answer is right
        dead = spread is not None and two_present and all(x < DEAD_SPREAD for x in spread)  # NaN < x is False
        self._dead_from_start(step, ev, dead, out)
        if self._evals_seen <= self.warmup_evals:
            self._was_alive |= spread is not None and any(x >= ALIVE_SPREAD for x in spread)
            return False
        self._dead_streak = self._dead_streak + 1 if dead else 0
        # a dead network that was alive, or dead from the start at an lr far above the usual range
        self._constant_now = dead and (self._was_alive or self.lr > 10 * SANE_LR or bool(self._born_dead))
        # once per run: firing sets _lr_suspect; and one loss-diverging per episode
        if dead and self._dead_streak >= DEAD_EVALS and self._was_alive \
                and not self._lr_suspect and self._diverge_armed:
            self._lr_suspect = self._lr_suspect or f"The network's output became constant at step {step}"
            out.append(self._dead_network(step))
        self._was_alive |= spread is not None and any(x >= ALIVE_SPREAD for x in spread)
        return True

    def _dead_from_start(self, step: int, ev: Any, dead: bool, out: list) -> None:
        """Dead at each of the first DEAD_EVALS evaluations with evidence it need not be (appends to ``out``)."""
        if self._born_dead is None or self._evals_seen > DEAD_EVALS:
            return
        if not dead:
            self._born_dead = None
            return
        images = float(getattr(ev, "image_spread", math.nan))
        untrained = [float(x) for x in getattr(ev, "untrained_spread", ())]
        before = self._born_dead.get("images", math.inf if self._evals_seen == 1 else math.nan)
        evidence = {}
        if images >= IMAGE_VARIES and before >= IMAGE_VARIES:  # NaN >= x is False: not measured, no evidence
            evidence["images"] = min(images, before)
        if untrained and max(untrained) >= ALIVE_SPREAD:
            evidence["untrained"] = max(untrained)
        self._born_dead = evidence
        if self._evals_seen == DEAD_EVALS and evidence and not self._lr_suspect and self._diverge_armed:
            self._lr_suspect = ("The network's output was the same everywhere from its first evaluation on "
                                f"(step {step})")
            out.append(self._dead_from_the_start(step, evidence))

    def _collapse_rules(self, step: int, true_f: tuple, pred_f: tuple) -> list[WarningEvent]:
        """Update the streaks; recoveries of active warnings first, then the warnings that start now."""
        C = self.num_classes
        present = [c for c in range(1, C) if true_f[c] > 0]   # NaN > 0 is False
        low = [c for c in present if pred_f[c] < LOW_FACTOR * true_f[c]]
        all_low = bool(present) and len(low) == len(present)
        # one foreground class takes every pixel while the labels hold another class too
        single = [c for c in range(1, C) if pred_f[c] >= 1.0 - SINGLE_CLASS_TOL
                  and any(true_f[o] > 0 for o in range(C) if o != c)]
        for c in range(1, C):
            self._low_streak[c] = self._low_streak[c] + 1 if c in low else 0
        self._bg_streak = self._bg_streak + 1 if all_low else 0
        self._single_streak = self._single_streak + 1 if single else 0
        out: list[WarningEvent] = []
        still: list[_Active] = []
        for a in self._active:
            back = tuple(c for c in sorted(a.watch)
                         if true_f[c] > 0 and pred_f[c] >= RECOVER_FACTOR * true_f[c])
            if back:
                out.append(self._recovered(step, a, back, true_f, pred_f))
            else:
                still.append(a)
        self._active = still
        codes = {a.code for a in self._active}
        if self._bg_streak >= COLLAPSE_EVALS and "collapse-background" not in codes:
            classes = tuple(present)
            self._active.append(_Active("collapse-background", classes, frozenset(classes)))
            out.append(self._collapse_background(step, classes, true_f, pred_f))
        if self._single_streak >= COLLAPSE_EVALS and "collapse-single-class" not in codes:
            k = single[0]
            watch = frozenset(c for c in range(C) if c != k and true_f[c] > 0)
            self._active.append(_Active("collapse-single-class", (k,), watch))
            out.append(self._collapse_single(step, k, true_f))
        if not all_low and not single:
            covered = set().union(*(a.watch for a in self._active)) if self._active else set()
            for c in low:
                if self._low_streak[c] >= COLLAPSE_EVALS and c not in covered:
                    self._active.append(_Active("class-never-predicted", (c,), frozenset((c,))))
                    out.append(self._never_predicted(step, c, true_f, pred_f))
        return out

    # ------------------------------------------------------------- internals

    def _reset_loss_tracking(self) -> None:
        self._n_steps = 0
        self._ema_raw = 0.0
        self._recent: deque = deque(maxlen=10)
        self._trend: deque = deque(maxlen=200)
        self._ref: float | None = None
        self._min_ema = math.inf
        self._best_ema = math.inf
        self._best_step = getattr(self, "_last_step", 0)
        self._last_step = getattr(self, "_last_step", 0)
        self._diverge_armed = True
        self._plateau_armed = True

    def _check_blowup(self, step: int, loss: float) -> list[WarningEvent]:
        if self._untrained_loss is None:
            if loss > 0:  # a loss of 0 (e.g. Dice on a fully ignored batch) is no reference
                self._untrained_loss = loss
            return []
        self._blowup_window.append(loss)
        if len(self._blowup_window) < BLOWUP_WINDOW:
            return []
        med = float(np.median(self._blowup_window))
        if med <= BLOWUP_FACTOR * self._untrained_loss:
            return []
        self._blowup_armed = False
        self._diverge_armed = False
        self._rearm_below = self._untrained_loss
        self._lr_suspect = self._lr_suspect or f"The loss blew up above the untrained network's at step {step}"
        return [self._loss_blowup(step, med)]

    def _ema_value(self) -> float:
        if self._n_steps == 0:
            return math.inf
        return self._ema_raw / (1 - 0.95 ** self._n_steps)

    def _per_class(self, ev: Any, name: str, required: bool = True) -> tuple:
        vals = getattr(ev, name, None)
        if vals is None:
            if required:
                raise ValueError(f"eval has no {name!r}; pass an EvalEvent")
            return (math.nan,) * self.num_classes
        vals = tuple(math.nan if v is None else float(v) for v in vals)
        if len(vals) != self.num_classes:
            raise ValueError(f"eval {name} has {len(vals)} values for {self.num_classes} classes")
        return vals

    def _emit(self, events: list[WarningEvent]) -> list[WarningEvent]:
        self.history.extend(events)
        return events
