"""The trust gate: whether the fold models learned enough for their disagreements to point at label errors.

A model that has not learned the task disagrees with every label, right or
wrong; ranking by its disagreement ranks noise. The review is trusted when at
least one fold was ranked (its run did not collapse or fail) and every ranked
fold's model reaches, on its held-out images, a mean *foreground* IoU of
:data:`MIN_MEAN_FG_IOU` (:func:`gate_foreground_iou`: over the classes other
than background that are labelled in those images) and a pixel accuracy of
:data:`MIN_PIXEL_ACCURACY`; a fold with no foreground labelled in its held-out
images (a block of negatives: contiguous folds of a defect dataset sorted by
name) is judged on its pixel accuracy alone, so a few false-positive specks
there do not make the whole review untrusted (they show up as ``missed``
regions to look at). Foreground, because a mean over all
classes credits the background: a model that predicts nothing but background
reaches a mean IoU of its share over the class count (0.3 with three classes
and 90 % background) and a pixel accuracy of its share, and finds nothing.

The thresholds come from planted-error measurements (docs/adr/0008-review-scores.md,
CCP-8's 8 classes): fold models at a held-out mean foreground IoU of 0.10–0.13
(1 minute a fold) still found pasted blobs and dilated borders but no erased or
re-classed object (top 3: 44 %); at 0.20–0.37 (4 minutes) they found every kind
(AUROC 0.75–0.85, top 3 67–80 %); DRIVE's at 0.65 met every target. Issue #14's
street-scene models at a pixel accuracy of 0.68 ranked at chance. Below the
gate the window still offers the list, under the warning ("Show the regions
anyway").
"""

from __future__ import annotations

import math
from typing import Sequence

from .report import FoldQuality

__all__ = ["MIN_MEAN_FG_IOU", "MIN_PIXEL_ACCURACY", "WEAK_ADVICE", "gate_foreground_iou", "verdict"]

#: A ranked fold's model needs at least this mean foreground IoU on its held-out images ...
MIN_MEAN_FG_IOU = 0.15
#: ... and at least this pixel accuracy.
MIN_PIXEL_ACCURACY = 0.8

WEAK_ADVICE = ("train longer (--minutes-per-fold), label more images, or check the classes and the label "
               "checker's findings")


def gate_foreground_iou(iou: Sequence[float], labelled: Sequence[int]) -> float:
    """The mean IoU of the foreground classes (1..C-1) with a labelled pixel in the held-out images
    (``labelled``: pixels per class); NaN when none has. A class predicted where none is labelled scores 0
    in per-class IoU; here it counts through the pixel accuracy instead."""
    values = [float(v) for k, (v, n) in enumerate(zip(iou, labelled)) if k > 0 and n > 0 and math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def _fmt(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "n/a"


def _foreground_ok(q: FoldQuality) -> bool:
    """The fold's foreground IoU reaches the gate; a fold with no foreground labelled in its held-out images
    (a block of negatives) has none to measure and is judged on its pixel accuracy."""
    return q.mean_fg_iou >= MIN_MEAN_FG_IOU or math.isnan(q.mean_fg_iou)


def verdict(folds: Sequence[FoldQuality]) -> tuple[bool, str]:
    """``(trusted, reason)``; the reason ("" when trusted) says what was too low and what to do."""
    ranked = [q for q in folds if q.ranked]
    if not ranked:
        why = "; ".join(f"fold {q.fold}: " + (f"the run failed ({q.error})" if q.error else
                                               f"the model collapsed ({', '.join(q.collapse)})") for q in folds)
        return False, (f"the model is too weak to find label errors: no fold model can be used ({why}); "
                       "`fcnstudio train` on this dataset shows the training monitor's diagnosis and fixes, "
                       f"or {WEAK_ADVICE}.")
    weak = [q for q in ranked if not (_foreground_ok(q) and q.pixel_accuracy >= MIN_PIXEL_ACCURACY)]
    if not weak:
        return True, ""
    detail = "; ".join(f"fold {q.fold}: mean foreground IoU {_fmt(q.mean_fg_iou)}, pixel accuracy "
                       f"{_fmt(q.pixel_accuracy)}" for q in weak)
    return False, (f"the model is too weak to find label errors ({detail}; needed: mean foreground IoU "
                   f"{MIN_MEAN_FG_IOU:g} and "
                   f"pixel accuracy {MIN_PIXEL_ACCURACY:g} on the held-out images): {WEAK_ADVICE}.")
