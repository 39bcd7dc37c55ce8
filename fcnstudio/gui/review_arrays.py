"""The array math behind the Review dock's prediction layer and its zoom, in numpy only (tested without a window).

The layer (:class:`~.review_layer.PredictionLayer` draws it) is one ARGB32
pixel per image pixel:

- the outlines of the model's predicted classes, in the class colours
  (:func:`prediction_outlines`), so the prediction reads against the filled mask;
- over them, the confident disagreement with the mask as it is now
  (:func:`~fcnstudio.core.review.regions.flagged_pixels`), a translucent
  :data:`DISAGREE_COLOR` fill (:func:`paint_disagreement`), recomputed only in
  an edit's dirty rectangle, so an accepted region or a brush stroke clears it.

:func:`region_view` is the zoom and centre that show a region with some of
its surroundings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fcnstudio.core.edits import Rect
from fcnstudio.core.review.regions import flagged_pixels
from fcnstudio.gui.canvas_arrays import build_lut, contour_edges

__all__ = ["DISAGREE_ALPHA", "DISAGREE_COLOR", "paint_disagreement", "prediction_outlines", "region_view"]

#: the fill of confidently disagreeing pixels (a yellow no class colour of the defaults uses) and its opacity
DISAGREE_COLOR = (255, 214, 0)
DISAGREE_ALPHA = 120
#: a region is shown with this many times its size around it, and at least this many image pixels
CONTEXT = 3.0
MIN_VIEW_PX = 64
#: never zoom in further than this (image pixels as screen pixels)
MAX_ZOOM = 16.0


def _premultiplied(color, alpha: int) -> int:
    r, g, b = (int(c) * alpha // 255 for c in color[:3])
    return (alpha << 24) | (r << 16) | (g << 8) | b


def prediction_outlines(pred: np.ndarray, colors) -> np.ndarray:
    """uint32 ARGB32 H x W: each predicted class's outline (its pixels bordering another class) in its colour;
    background and the inside of objects transparent."""
    h, w = pred.shape
    lut = build_lut(colors, max(int(pred.max()) + 1, len(colors)))
    edges = contour_edges(pred, Rect(0, 0, h, w))
    return np.where(edges, lut[pred], np.uint32(0)).astype(np.uint32)


def paint_disagreement(buf: np.ndarray, outlines: np.ndarray, probs: np.ndarray, label: np.ndarray,
                       thresholds: Sequence[float], rect: Rect, ignore_index: int | None = None) -> None:
    """Recompute ``buf`` in ``rect``: the outlines, and the confident disagreement of ``probs`` with ``label``
    filled where no outline is drawn."""
    sl = rect.slices
    flagged, _, _ = flagged_pixels(probs[sl], label[sl], thresholds, ignore_index)
    out = buf[sl]
    np.copyto(out, outlines[sl])
    out[flagged & (out == 0)] = _premultiplied(DISAGREE_COLOR, DISAGREE_ALPHA)


def region_view(box, view_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[float, float, float]:
    """``(scale, cx, cy)``: the zoom at which ``box`` (x, y, w, h) with :data:`CONTEXT` times its size around it
    (at least :data:`MIN_VIEW_PX`, at most the image) fills the view, and the image point to put in its middle:
    the box's centre, moved as little as needed to keep the view on the image."""
    x, y, w, h = box
    iw, ih = image_size
    vw, vh = view_size
    span_w = min(max(w * CONTEXT, MIN_VIEW_PX), max(iw, w))
    span_h = min(max(h * CONTEXT, MIN_VIEW_PX), max(ih, h))
    scale = min(vw / span_w, vh / span_h, MAX_ZOOM)
    return float(scale), _within(x + w / 2.0, vw / scale, iw), _within(y + h / 2.0, vh / scale, ih)


def _within(centre: float, seen: float, size: float) -> float:
    """``centre`` moved so that ``seen`` image pixels around it stay on ``[0, size]`` (the middle when they cannot)."""
    if seen >= size:
        return size / 2.0
    return min(max(centre, seen / 2.0), size - seen / 2.0)
