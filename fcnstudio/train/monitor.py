"""Watch a training run for collapse, NaN, divergence and plateau.

:class:`Monitor` is fed every step's training loss (:meth:`Monitor.on_step`) and
every evaluation (:meth:`Monitor.on_eval`, an :class:`~.events.EvalEvent` or
any object with the same per-class attributes) and returns the
:class:`~.events.WarningEvent` objects to emit. It is plain Python + numpy,
deterministic, and decides only from the numbers it is given.

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
  loss) -- the updates make the network far worse than a random one. A fresh
  network's loss varies from batch to batch only with the foreground in the
  batch: in our runs at sane learning rates (sample, DRIVE, VOC; CE, focal,
  Dice + CE) no step rose above 1.1x it, and for a flat prediction a Dice term
  can at most double between a foreground-rich and an empty batch. At lr 100
  and more the loss reached tens to thousands of times it within 3 steps
  (at lr 10, 1.6x: the dead-network rule below catches those runs), before
  the network died to a constant output that grad clipping and normalisation
  keep at a bounded loss. Checked from the first step (warm-up included: that
  is when it happens), once per run, and only for a network that started
  untrained (not after a resume or a change of loss, whose scale differs).
  The rise rule stays disarmed until the smoothed loss is back below the
  untrained network's.
- ``loss-diverging`` (dead network): at 2 evaluations in a row after the
  warm-up, with at least two classes present in the labels, every class's
  probability spread (max minus min over the validation pixels) is under
  1e-3 -- the network gives every pixel the same answer, so it is wrong on
  one class at least -- while at an earlier evaluation some class spread at
  least 0.01 (so blank images, on which any network answers the same
  everywhere, never count). What is left of a network whose weights too large a step wrecked:
  at lr 10 on the sample, the runs whose loss did not blow up died this way
  (spread exactly 0, loss flat at what a constant guess scores), while a
  plain-CE network that predicts no foreground still spreads 0.2-0.9.
  Needs ``EvalEvent.prob_spread``; once per run.
- ``loss-diverging`` (rise): after ``loss_warmup_steps`` steps, both the EMA and the
  median of the last 10 raw losses exceed twice the lowest EMA seen after
  warm-up, by more than 10 % of the loss level at the end of warm-up (so a
  loss that has converged near 0 cannot "double" on noise). The median makes
  one spiky batch harmless. Re-armed when the EMA falls below 1.5x its minimum.
- ``loss-plateau`` (conservative): the EMA has not improved by 2 % on its best
  value for ``plateau_steps`` steps, at least 2 evaluations have run after
  warm-up, and the last one is poor (mean foreground IoU < 0.3; a NaN IoU,
  i.e. no foreground anywhere, is not poor). Re-armed by a new best EMA.

Every warning carries a diagnosis built from the evidence at hand (label
fractions from the checker or the eval labels, the loss in use, the lr and the
loss trend, how the max foreground probability moves) and ordered suggestions
whose ``action`` the GUI/CLI applies (see :data:`~.events.ACTION_KEYS`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .events import Suggestion, WarningEvent

__all__ = [
    "COLLAPSE_CODES",
    "COLLAPSE_EVALS",
    "LOSS_CODES",
    "LOW_FACTOR",
    "RECOVER_FACTOR",
    "Monitor",
]

DEAD_SPREAD = 1e-3     # every class's probability spread under this: a dead network
ALIVE_SPREAD = 0.01    # ... and it was alive once if some class spread this much
DEAD_EVALS = 2
BLOWUP_FACTOR = 2.5   # a loss above this times the untrained network's is a blow-up
BLOWUP_WINDOW = 3     # ... as the median of this many steps
SANE_LR = 1e-3        # the lr a blow-up suggestion goes down to (the trainer's default)
LOW_FACTOR = 0.1       # a class is "low" below this times its true fraction
RECOVER_FACTOR = 0.5   # ... and "back" at or above this times its true fraction
COLLAPSE_EVALS = 3     # evaluations in a row
SINGLE_CLASS_TOL = 1e-6

COLLAPSE_CODES = ("collapse-background", "collapse-single-class", "class-never-predicted")
LOSS_CODES = ("loss-nan", "loss-diverging", "loss-plateau")
RECOVERED = "collapse-recovered"

_LOSS_WORDS = {
    "ce": "plain cross-entropy",
    "weighted-ce": "class-weighted cross-entropy",
    "dice": "soft Dice",
    "focal": "focal loss",
    "dice+ce": "Dice + cross-entropy",
}


@dataclass
class _Active:
    """An active collapse warning: the classes it names and those whose return clears it."""

    code: str
    classes: tuple
    watch: frozenset


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    p = 100.0 * x
    return f"{p:.2g} %" if 0 < p < 0.1 else f"{p:.1f} %"


def _lr_str(x: float) -> str:
    return f"{x:.2g}"


def _round_lr(x: float) -> float:
    return float(f"{x:.2g}")


class Monitor:
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
        spread = getattr(ev, "prob_spread", None)
        spread = self._per_class(ev, "prob_spread") if spread is not None and len(spread) else None
        two_present = sum(1 for t in true_f if t > 0) >= 2  # one class only: a constant answer is right
        dead = spread is not None and two_present and all(x < DEAD_SPREAD for x in spread)  # NaN < x is False
        if self._evals_seen <= self.warmup_evals:
            self._was_alive |= spread is not None and any(x >= ALIVE_SPREAD for x in spread)
            return self._emit(out)
        self._dead_streak = self._dead_streak + 1 if dead else 0
        # a dead network that was alive, or dead from the start at an lr far above the usual range
        self._constant_now = dead and (self._was_alive or self.lr > 10 * SANE_LR)
        # once per run: firing sets _lr_suspect; and one loss-diverging per episode
        if dead and self._dead_streak >= DEAD_EVALS and self._was_alive \
                and not self._lr_suspect and self._diverge_armed:
            self._lr_suspect = self._lr_suspect or f"The network's output became constant at step {step}"
            out.append(self._dead_network(step))
        self._was_alive |= spread is not None and any(x >= ALIVE_SPREAD for x in spread)
        self._evals_after_warmup += 1
        fg_iou = [x for x in iou[1:] if math.isfinite(x)]
        self._last_fg_iou = sum(fg_iou) / len(fg_iou) if fg_iou else math.inf
        self._eval_log.append((step, pred_f, max_p))

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

        # 1. recoveries
        still: list[_Active] = []
        for a in self._active:
            back = tuple(c for c in sorted(a.watch)
                         if true_f[c] > 0 and pred_f[c] >= RECOVER_FACTOR * true_f[c])
            if back:
                out.append(self._recovered(step, a, back, true_f, pred_f))
            else:
                still.append(a)
        self._active = still

        # 2. new warnings
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
        return self._emit(out)

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

    def _names(self, classes: Sequence[int]) -> str:
        return ", ".join(self.class_names[c] for c in classes)

    # diagnosis pieces ------------------------------------------------------

    def _labels_evidence(self, true_f: tuple | None) -> str:
        if self.checker_fractions is not None:
            f, src = self.checker_fractions, "of labelled pixels (checker)"
        elif true_f is not None:
            f, src = true_f, "of labelled pixels in the validation set (checker not run)"
        else:
            return ""
        fg = sum(x for x in f[1:] if math.isfinite(x))
        text = f"Foreground is {_pct(fg)} {src}"
        if self.num_classes > 2:
            text += ": " + ", ".join(f"{self.class_names[c]} {_pct(f[c])}" for c in range(1, self.num_classes))
        return text + "."

    def _loss_evidence(self, imbalance: bool = False) -> str:
        words = _LOSS_WORDS.get(self.loss_name, self.loss_name)
        if imbalance and self.loss_name == "ce":
            words += ", which an all-background prediction already scores well on when foreground is rare"
        return f"Loss in use: {words}."

    def _trend_evidence(self) -> str:
        text = self._lr_trend_text()
        if self._lr_suspect:
            text += f" {self._lr_suspect}: the learning rate is the first suspect."
        return text

    def _lr_trend_text(self) -> str:
        ema = self._ema_value()
        if not math.isfinite(ema):
            return f"Learning rate {_lr_str(self.lr)}."
        trend = ""
        if len(self._trend) >= 20:
            then = self._trend[0][1]
            r = ema / then if then > 0 else 1.0
            trend = "falling" if r < 0.97 else "rising" if r > 1.03 else "flat"
            trend = f", {trend} over the last {self._trend[-1][0] - self._trend[0][0]} steps"
        lowest = f"; lowest {self._min_ema:.3g}" if math.isfinite(self._min_ema) else ""
        return f"Learning rate {_lr_str(self.lr)}; smoothed training loss {ema:.3g}{trend}{lowest}."

    def _prob_evidence(self, classes: Sequence[int]) -> tuple[str, str]:
        """(text, kind) where kind is 'slow', 'collapsed', 'stuck' or '' (no data)."""
        kinds, parts = [], []
        for c in classes:
            vals = [m[c] for (_, _, m) in list(self._eval_log)[-COLLAPSE_EVALS:] if math.isfinite(m[c])]
            if not vals:
                continue
            first, last = vals[0], vals[-1]
            if last < 0.5 and last - first > 0.05:
                kind, words = "slow", "rising but below 0.5: learning is slow, not stuck"
            elif last < 0.1:
                kind, words = "collapsed", "flat near 0: the output has collapsed"
            else:
                kind, words = "stuck", "not rising"
            seq = " → ".join(f"{v:.2f}" for v in vals)
            parts.append(f"max probability of {self.class_names[c]} {seq} ({words})")
            kinds.append(kind)
        if not parts:
            return "", ""
        kind = "collapsed" if "collapsed" in kinds else "slow" if "slow" in kinds else "stuck"
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + ".", kind

    def _constant_evidence(self) -> str:
        if not self._constant_now:
            return ""
        return ("The network now gives every pixel the same probabilities: it does not look at the image, "
                "which is what too large steps leave behind.")

    def _diagnosis(self, *parts: str) -> str:
        return " ".join(p for p in parts if p)

    # suggestions -----------------------------------------------------------

    def _s_loss(self) -> list[Suggestion]:
        if self.loss_name in ("ce", "weighted-ce"):
            return [Suggestion("Switch the loss to Dice + CE", {"loss": "dice+ce"})]
        return []

    def _s_weights(self) -> list[Suggestion]:
        if not self.uses_class_weights and self.loss_name != "dice":
            return [Suggestion("Weight classes by median frequency", {"class_weights": "auto"})]
        return []

    def _s_lr(self, factor: float, at_most: float = math.inf) -> list[Suggestion]:
        """Lower the lr by ``factor`` (and to ``at_most``); from far above the usual range, straight to the default."""
        new = min(self.lr / factor, at_most)
        new = _round_lr(SANE_LR if new > 10 * SANE_LR else new)
        return [Suggestion(f"Lower the learning rate to {_lr_str(new)}", {"lr": new})]

    def _s_lr_sane(self) -> list[Suggestion]:
        """Lower the lr by 10x, and at least to the default that works on most data."""
        return self._s_lr(10, at_most=SANE_LR)

    def _s_checker(self) -> list[Suggestion]:
        return [Suggestion("Open the label checker", {"open_checker": True})]

    def _collapse_suggestions(self) -> tuple:
        if self._lr_suspect or self._constant_now:  # the lr wrecked the network: that comes first
            return tuple(self._s_lr_sane() + self._s_loss() + self._s_weights() + self._s_checker())
        s = self._s_loss() + self._s_weights() + self._s_lr(3) + self._s_checker()
        if self.checker_fractions is None:  # labels never checked: that comes first
            s = s[-1:] + s[:-1]
        return tuple(s)

    # events ----------------------------------------------------------------

    def _warning(self, step: int, code: str, message: str, diagnosis: str,
                 suggestions: tuple, classes: tuple = ()) -> WarningEvent:
        return WarningEvent(step=int(step), code=code, severity="warning", message=message,
                            diagnosis=diagnosis, suggestions=suggestions, classes=classes)

    def _collapse_background(self, step: int, classes: tuple, true_f: tuple, pred_f: tuple) -> WarningEvent:
        detail = ", ".join(f"{self.class_names[c]} {_pct(pred_f[c])} vs {_pct(true_f[c])}" for c in classes)
        msg = (f"Output collapsed to background: foreground predicted far below its share of the labels "
               f"({detail}), {self._bg_streak} evaluations in a row.")
        prob, _ = self._prob_evidence(classes)
        diag = self._diagnosis(self._labels_evidence(true_f), self._loss_evidence(imbalance=True),
                               self._trend_evidence(), prob, self._constant_evidence())
        return self._warning(step, "collapse-background", msg, diag, self._collapse_suggestions(), classes)

    def _collapse_single(self, step: int, k: int, true_f: tuple) -> WarningEvent:
        msg = (f"Every pixel is predicted as {self.class_names[k]} (labels: {_pct(true_f[k])}), "
               f"{self._single_streak} evaluations in a row.")
        diag = self._diagnosis(
            self._labels_evidence(true_f), self._loss_evidence(), self._trend_evidence(),
            "A constant output that is not background usually means steps too large, class "
            "weights too extreme, or inverted labels.")
        sugg = self._s_lr(10) + self._s_loss() + self._s_checker()
        return self._warning(step, "collapse-single-class", msg, diag, tuple(sugg), (k,))

    def _never_predicted(self, step: int, c: int, true_f: tuple, pred_f: tuple) -> WarningEvent:
        msg = (f"{self.class_names[c]} is almost never predicted: {_pct(pred_f[c])} of pixels vs "
               f"{_pct(true_f[c])} in the labels, {self._low_streak[c]} evaluations in a row, "
               "while other classes are predicted.")
        prob, _ = self._prob_evidence((c,))
        diag = self._diagnosis(self._labels_evidence(true_f), self._loss_evidence(imbalance=True),
                               self._trend_evidence(), prob)
        sugg = self._s_loss() + self._s_weights() + self._s_checker() + self._s_lr(3)
        return self._warning(step, "class-never-predicted", msg, diag, tuple(sugg), (c,))

    def _recovered(self, step: int, a: _Active, back: tuple, true_f: tuple, pred_f: tuple) -> WarningEvent:
        detail = ", ".join(f"{self.class_names[c]} {_pct(pred_f[c])} vs {_pct(true_f[c])}" for c in back)
        rest = sorted(set(a.watch) - set(back))
        tail = f"; not yet back: {self._names(rest)}" if rest else ""
        msg = f"{self._names(back)} predicted again ({detail}){tail}."
        return WarningEvent(step=int(step), code=RECOVERED, severity="info", message=msg,
                            diagnosis=f"Ends the {a.code} warning.", classes=back, clears=a.code)

    def _loss_nan(self, step: int, which: str, value: float) -> WarningEvent:
        msg = f"The {which} loss is {value} at step {step}: the weights are no longer numbers."
        diag = self._diagnosis(
            self._loss_evidence(), self._trend_evidence(),
            "Usual causes: a learning rate too high for this loss, or NaN/Inf in an image "
            "(the checker reports nan-image).")
        sugg = self._s_lr(10) + self._s_checker()
        return self._warning(step, "loss-nan", msg, diag, tuple(sugg))

    def _loss_diverging(self, step: int, ema: float) -> WarningEvent:
        msg = (f"The training loss is rising: smoothed {ema:.3g}, more than twice its lowest "
               f"{self._min_ema:.3g}.")
        diag = self._diagnosis(self._loss_evidence(), self._trend_evidence(),
                               "A loss that climbs back up usually means the learning rate is too high.")
        return self._warning(step, "loss-diverging", msg, diag, tuple(self._s_lr(10)))

    def _loss_blowup(self, step: int, med: float) -> WarningEvent:
        ref = self._untrained_loss
        msg = (f"The training loss blew up: {med:.3g} at step {step} (median of the last {BLOWUP_WINDOW} "
               f"steps), {med / ref:.3g}x the {ref:.3g} of the untrained network.")
        diag = self._diagnosis(
            self._loss_evidence(), self._lr_trend_text(),
            "A loss above that of a random network means each update makes the network worse: the "
            "learning rate is far too high. Such a run usually ends with a network that predicts one "
            "constant output, however long it trains.")
        return self._warning(step, "loss-diverging", msg, diag, tuple(self._s_lr_sane()))

    def _dead_network(self, step: int) -> WarningEvent:
        msg = (f"Training has broken down: for {self._dead_streak} evaluations the network has given every "
               "pixel the same probabilities -- it no longer looks at the image.")
        diag = self._diagnosis(
            self._loss_evidence(), self._lr_trend_text(),
            "Its output was not constant before: steps far too large have wrecked the weights, and the "
            "loss now stays at what a constant guess scores. Lower the learning rate and start again.")
        return self._warning(step, "loss-diverging", msg, diag, tuple(self._s_lr_sane()))

    def _loss_plateau(self, step: int, ema: float) -> WarningEvent:
        iou = self._last_fg_iou
        msg = (f"The training loss has not improved for {step - self._best_step} steps "
               f"(smoothed {ema:.3g}) and the foreground IoU is only {iou:.2f}.")
        prob, _ = self._prob_evidence(range(1, self.num_classes))
        diag = self._diagnosis(self._labels_evidence(None), self._loss_evidence(imbalance=True),
                               self._trend_evidence(), prob)
        sugg = self._s_loss() + self._s_weights() + self._s_lr(3) + self._s_checker()
        return self._warning(step, "loss-plateau", msg, diag, tuple(sugg))
