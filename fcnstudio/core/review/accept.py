"""Accepting a region: which pixels of the mask take the model's class.

``review.json`` keeps a region as a box and a (label, predicted) pair, not as
its pixels; :func:`region_pixels` finds them again from the held-out
probabilities and the mask as it is now: every 8-connected component of
flagged pixels (:func:`~.regions.flagged_pixels`, with the thresholds of the
fold that held the image out) that is labelled ``region.label``, predicted
``region.predicted`` and has a pixel inside the region's box. Against the mask
the review saw, that is the region itself; against a mask edited since, what
is left of it (nothing once it was fixed by hand).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .regions import Region, flagged_pixels

__all__ = ["region_pixels"]


def region_pixels(probs: np.ndarray, label: np.ndarray, thresholds: Sequence[float], region: Region,
                  ignore_index: int | None = None) -> np.ndarray:
    """Bool H x W: the pixels of ``region`` that accepting it sets to ``region.predicted`` (see the module)."""
    flagged, pred, _ = flagged_pixels(probs, label, thresholds, ignore_index)
    pair = flagged & (label == region.label) & (pred == region.predicted)
    x, y, w, h = region.box
    x0, y0 = max(0, x), max(0, y)
    inside = pair[y0:y + h, x0:x + w]
    if w <= 0 or h <= 0 or not inside.any():
        return np.zeros(label.shape, bool)
    _, components = cv2.connectedComponents(pair.view(np.uint8), connectivity=8)
    touched = np.unique(components[y0:y + h, x0:x + w][inside])
    return np.isin(components, touched)
