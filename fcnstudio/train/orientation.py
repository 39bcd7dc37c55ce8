"""Whether a dataset's images have an "up": then vertical flips and quarter turns teach what never occurs.

Street scenes have sky at the top, people have hair above shoes; a cell or a
retina looks the same upside down. Augmenting upright data with vertical flips
and quarter turns makes a short run spend its steps on views it will never be
asked about; on data without an up they are free extra views. The labels say
which, without looking at a pixel of the images::

    for each class seen in at least MIN_MASKS masks: the vertical centre of its
    pixels in each mask (0 = top, 1 = bottom); its mean m and spread s over the masks
    upright when some class sits off the middle, |m - 0.5| >= MIN_OFFSET, and stays
    there, s <= MAX_SPREAD

Measured on the shared datasets (``docs/adr/0007-learning-per-cpu-minute.md``):
CCP-8's hair sits at 0.16 ± 0.05 (upright); the bundled sample's classes and
DRIVE's vessels sit at 0.5 (no up). numpy only; tests call it on masks made in
the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["MAX_SPREAD", "MIN_OFFSET", "Orientation", "find_orientation"]

MIN_MASKS = 3
#: how far from the middle a class's mean vertical centre must sit
MIN_OFFSET = 0.15
#: how little it may move between masks
MAX_SPREAD = 0.12


@dataclass(frozen=True)
class Orientation:
    upright: bool
    #: one sentence a user can read
    reason: str


def find_orientation(masks: Iterable[np.ndarray], num_classes: int, class_names: tuple = ()) -> Orientation:
    centres: dict[int, list[float]] = {}
    for m in masks:
        h = m.shape[0]
        if h < 2:
            continue
        rows = np.arange(h, dtype=np.float64) / (h - 1)
        for k in range(num_classes):
            per_row = (m == k).sum(axis=1)
            n = per_row.sum()
            if 0 < n < m.size:  # a class everywhere (or nowhere) says nothing about up and down
                centres.setdefault(k, []).append(float((per_row * rows).sum() / n))
    best = None
    for k, ys in centres.items():
        if len(ys) < MIN_MASKS:
            continue
        mean, spread = float(np.mean(ys)), float(np.std(ys))
        if abs(mean - 0.5) >= MIN_OFFSET and spread <= MAX_SPREAD:
            score = abs(mean - 0.5) - spread
            if best is None or score > best[0]:
                best = (score, k, mean, spread)
    if best is None:
        return Orientation(False, "no class keeps to the top or the bottom: flips and quarter turns in every direction")
    _, k, mean, spread = best
    name = class_names[k] if k < len(class_names) else f"class {k}"
    where = "top" if mean < 0.5 else "bottom"
    return Orientation(True, f"the images have an up ({name} keeps to the {where}, at {mean:.2f} ± {spread:.2f} "
                             "of the height): left-right flips only")
