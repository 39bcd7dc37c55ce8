"""The trust gate: whether the fold models learned enough for their disagreements to point at label errors.

A model that has not learned the task disagrees with every label, right or
wrong; ranking by its disagreement ranks noise. The review is trusted when at
least one fold was ranked (its run did not collapse or fail) and every ranked
fold's model reaches, on its held-out images, a mean IoU of
:data:`MIN_MEAN_IOU` (over the classes present in the labels or the
prediction) and a pixel accuracy of :data:`MIN_PIXEL_ACCURACY`.

The thresholds come from planted-error measurements (docs/adr/0008-review-scores.md):
fold models at a held-out mean IoU of 0.28–0.31 (CCP-8, 4 minutes a fold)
ranked better than the soft-min baseline but missed the review's targets
(AUROC 0.66, a third of the planted errors outside their image's top 3
regions); at 0.80–0.81 (DRIVE) every target was met (AUROC 0.92, all in the
top 3); issue #14's street scenes reached 13/18 in the top 3 at 0.50. Below
the gate the window still offers the list, under the warning ("Show the
regions anyway").
"""

from __future__ import annotations

import math
from typing import Sequence

from .report import FoldQuality

__all__ = ["MIN_MEAN_IOU", "MIN_PIXEL_ACCURACY", "WEAK_ADVICE", "verdict"]

#: A ranked fold's model needs at least this mean IoU on its held-out images ...
MIN_MEAN_IOU = 0.5
#: ... and at least this pixel accuracy.
MIN_PIXEL_ACCURACY = 0.8

WEAK_ADVICE = ("train longer (--minutes-per-fold), label more images, or check the classes and the label "
               "checker's findings")


def _fmt(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "n/a"


def verdict(folds: Sequence[FoldQuality]) -> tuple[bool, str]:
    """``(trusted, reason)``; the reason ("" when trusted) says what was too low and what to do."""
    ranked = [q for q in folds if q.ranked]
    if not ranked:
        why = "; ".join(f"fold {q.fold}: " + (f"the run failed ({q.error})" if q.error else
                                               f"the model collapsed ({', '.join(q.collapse)})") for q in folds)
        return False, (f"the model is too weak to find label errors: no fold model can be used ({why}); "
                       "`fcnstudio train` on this dataset shows the training monitor's diagnosis and fixes, "
                       f"or {WEAK_ADVICE}.")
    weak = [q for q in ranked if not (q.mean_iou >= MIN_MEAN_IOU and q.pixel_accuracy >= MIN_PIXEL_ACCURACY)]
    if not weak:
        return True, ""
    detail = "; ".join(f"fold {q.fold}: mean IoU {_fmt(q.mean_iou)}, pixel accuracy {_fmt(q.pixel_accuracy)}"
                       for q in weak)
    return False, (f"the model is too weak to find label errors ({detail}; needed: mean IoU {MIN_MEAN_IOU:g} and "
                   f"pixel accuracy {MIN_PIXEL_ACCURACY:g} on the held-out images): {WEAK_ADVICE}.")
