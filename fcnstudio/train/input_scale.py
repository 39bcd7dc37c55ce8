"""The input scale of a run: how far images and masks can shrink before the thinnest labelled structure is lost.

Training at a reduced scale is the largest single gain per CPU minute on
photographs (a 256-px crop at half size sees four times the context for the
same cost), and the largest loss on thin structures (a 3-px vessel at half size
is one pixel, or none). So the choice reads both from the data::

    scale = min(1, max(TARGET_SIDE / short side, MIN_WIDTH_PX / thinnest width))

each term a multiple of :data:`STEP`: for the target side the nearest one (the
short side comes out as close to 256 px as steps of 1/8 allow, above or below
it), for the thin-class floor the next one up (never under 4 px). *short side*: the median of the
masks' shorter sides. *thinnest width*: for every class (background included:
in EM images the thin membrane is often class 0) the width of its regions,
estimated per mask as ``2 * area / boundary pixels`` (the width of a strip;
about 0.8 x the radius of a disc), taken at the 25th percentile over the masks that hold
the class; then the smallest over the classes. Classes seen in fewer than
:data:`MIN_MASKS` masks are ignored when other classes qualify.

Measured (``docs/adr/0007-learning-per-cpu-minute.md``): CCP-8 street-fashion
photos (550 px wide, thinnest class ~12 px) train at 0.5 (held-out mean IoU
0.47 after 5 minutes, against 0.40 at 0.625 and 0.23 at 1); DRIVE vessels
(~3 px) and the bundled sample stay at 1. Rounding the target side up instead
put the review's CCP-8 copy (~510 x 340 px) at 0.875 (298 px) instead of 0.75
(255 px), and its 4-minute fold models at a held-out mean IoU of 0.28-0.32
instead of 0.37-0.41 (docs/adr/0008-review-scores.md).

Everything here is numpy + OpenCV on arrays, so tests call it on masks made in the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

__all__ = ["MIN_WIDTH_PX", "STEP", "TARGET_SIDE", "ScaleChoice", "choose_input_scale", "region_width"]

#: The shorter side that training aims for on large images, in pixels.
TARGET_SIDE = 256
#: The thinnest labelled structure keeps at least this width, in pixels, after scaling.
MIN_WIDTH_PX = 4.0
#: Scales are multiples of this (1/8).
STEP = 0.125
#: A class must appear in this many sampled masks to constrain the scale (unless no class does).
MIN_MASKS = 3
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class ScaleChoice:
    scale: float
    #: one sentence a user can read: why this scale
    reason: str
    short_side: float = math.nan
    thinnest_width: float = math.nan
    thinnest_class: int | None = None


def region_width(region: np.ndarray) -> float:
    """``2 * area / boundary pixels`` of a boolean region (a strip's width, ~0.8 x a disc's radius); NaN if empty."""
    b = region.astype(np.uint8)
    area = int(b.sum())
    if area == 0:
        return math.nan
    inner = cv2.erode(b, _KERNEL, borderType=cv2.BORDER_REPLICATE)
    edge = area - int(inner.sum())
    return 2.0 * area / max(edge, 1)


def _widths(masks: Iterable[np.ndarray], num_classes: int) -> tuple[dict[int, list[float]], list[int]]:
    per_class: dict[int, list[float]] = {}
    sides = []
    for m in masks:
        sides.append(min(m.shape[:2]))
        present = np.unique(m)
        if len(present) < 2:
            continue  # one class everywhere has no border, so no width
        for k in present.tolist():
            if k < num_classes:
                per_class.setdefault(int(k), []).append(region_width(m == k))
    return per_class, sides


def choose_input_scale(masks: Iterable[np.ndarray], num_classes: int) -> ScaleChoice:
    """The training scale for masks like these (class-index arrays; values >= ``num_classes`` are ignored)."""
    per_class, sides = _widths(masks, num_classes)
    if not sides:
        return ScaleChoice(1.0, "no mask to measure: full size")
    short = float(np.median(sides))
    qualified = {k: v for k, v in per_class.items() if len(v) >= MIN_MASKS} or per_class
    widths = {k: float(np.percentile(v, 25)) for k, v in qualified.items()}
    thin_k = min(widths, key=widths.get) if widths else None
    thin = widths[thin_k] if thin_k is not None else math.inf
    aimed = max(STEP, round(TARGET_SIDE / short / STEP) * STEP)
    floor = math.ceil((MIN_WIDTH_PX / thin if thin > 0 else 1.0) / STEP - 1e-9) * STEP
    scale = min(1.0, max(aimed, floor))
    if scale >= 1.0:
        why = (f"full size: the thinnest class (class {thin_k}) is ~{thin:.1f} px wide"
               if thin_k is not None and floor > aimed
               else f"full size: images are {short:.0f} px on their short side")
    else:
        why = (f"{scale:g}x: images are {short:.0f} px on their short side and the thinnest class "
               f"(class {thin_k}) stays ~{thin * scale:.0f} px wide")
    return ScaleChoice(scale, why, short, thin, thin_k)
