"""The training monitor's wording: what each warning says, its diagnosis and its ordered suggestions.

The rules in :mod:`.monitor` decide *when* a warning fires; :class:`Diagnosis`,
the base class of :class:`~.monitor.Monitor`, says *what* it tells the user,
from the evidence the monitor keeps: the label fractions (the checker's, else
the validation labels'), the loss and lr in use, the smoothed-loss trend, how
each class's max probability moved over the last evaluations, and whether the
lr is already suspected (a blow-up, a dead network). Each suggestion carries an
``action`` the GUI/CLI applies (see :data:`~.events.ACTION_KEYS`).

Evidence read from the monitor: ``class_names``, ``num_classes``,
``checker_fractions``, ``loss_name``, ``lr``, ``uses_class_weights``,
``_trend``, ``_min_ema``, ``_ema_value()``, ``_eval_log``, ``_lr_suspect``,
``_constant_now``, ``_evals_seen``, the streak counters, ``_untrained_loss``, ``_best_step``
and ``_last_fg_iou``.
"""

from __future__ import annotations

import math
from typing import Sequence

from .events import Suggestion, WarningEvent
from .monitor_thresholds import BLOWUP_WINDOW, COLLAPSE_EVALS, SANE_LR

__all__ = ["RECOVERED", "Diagnosis"]

RECOVERED = "collapse-recovered"

_LOSS_WORDS = {
    "ce": "plain cross-entropy",
    "weighted-ce": "class-weighted cross-entropy",
    "dice": "soft Dice",
    "focal": "focal loss",
    "dice+ce": "Dice + cross-entropy",
}


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    p = 100.0 * x
    return f"{p:.2g} %" if 0 < p < 0.1 else f"{p:.1f} %"


def _lr_str(x: float) -> str:
    return f"{x:.2g}"


def _round_lr(x: float) -> float:
    return float(f"{x:.2g}")


class Diagnosis:
    """Messages, diagnoses and suggestions of the monitor's warnings (see the module docstring)."""

    def _names(self, classes: Sequence[int]) -> str:
        return ", ".join(self.class_names[c] for c in classes)

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

    def _recovered(self, step: int, a: "_Active", back: tuple, true_f: tuple, pred_f: tuple) -> WarningEvent:
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
        return self._wrecked(step, msg, "Its output was not constant before: steps far too large have wrecked "
                                        "the weights, and the")

    def _dead_from_the_start(self, step: int, evidence: dict) -> WarningEvent:
        said = []
        if "images" in evidence:
            said.append(f"the validation images vary (intensity std up to {evidence['images']:.2g})")
        if "untrained" in evidence:
            said.append(f"the untrained network's output did not (spread up to {evidence['untrained']:.2g})")
        msg = (f"Training has broken down: from the first evaluation on, for {self._evals_seen} evaluations, the "
               f"network has given every pixel the same probabilities, although {' and '.join(said)} -- it does "
               "not look at the image.")
        return self._wrecked(step, msg, "Steps far too large wrecked the weights before the first evaluation, "
                                        "and the")

    def _wrecked(self, step: int, msg: str, cause: str) -> WarningEvent:
        """The dead-network loss-diverging: ``cause`` says how the weights were wrecked."""
        diag = self._diagnosis(self._loss_evidence(), self._lr_trend_text(),
                               f"{cause} loss now stays at what a constant guess scores. Lower the learning rate "
                               "and start again.")
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
