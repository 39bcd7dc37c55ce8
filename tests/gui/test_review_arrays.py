"""The Review dock's array math: the zoom onto a region, and the prediction layer redrawn in a dirty rectangle."""

import math

import numpy as np

from fcnstudio.core.edits import Rect
from fcnstudio.gui.review_arrays import MAX_ZOOM, paint_disagreement, prediction_outlines, region_view

COLORS = [(0, 0, 0), (200, 40, 40), (40, 200, 40)]


def test_region_view_shows_the_box_with_context_centred_and_never_past_the_image():
    scale, cx, cy = region_view((300, 250, 20, 10), (600, 400), (1000, 800))
    assert (cx, cy) == (310.0, 255.0)
    assert scale == 400 / 64  # 3x the box is under 64 px: 64 px of image fill the view (its smaller side)
    assert 20 * scale <= 600 and 10 * scale <= 400
    big, bx, by = region_view((0, 0, 300, 300), (600, 400), (1000, 800))
    assert math.isclose(big, 400 / 800)  # 3x the box is more than the image's height: the image's height
    assert (bx, by) == (500, 400)  # 1200 x 800 image pixels seen: the whole image, in the middle
    _, cx, cy = region_view((2, 790, 4, 4), (600, 400), (1000, 800))  # in a corner: the view stays on the image
    assert (cx, cy) == (600 / (400 / 64) / 2, 800 - 32)
    tiny, _, _ = region_view((5, 5, 1, 1), (6000, 6000), (2000, 2000))
    assert tiny == MAX_ZOOM


def test_the_layer_outlines_the_prediction_and_fills_the_disagreement_in_the_dirty_rect_only():
    pred = np.zeros((20, 30), np.int64)
    pred[5:15, 5:15] = 1                       # the model sees a class-1 square
    probs = np.zeros((20, 30, 3), np.float32)
    probs[..., 0] = 1.0
    probs[5:15, 5:15] = (0.0, 1.0, 0.0)
    label = np.zeros((20, 30), np.uint8)       # ... that the label misses
    outlines = prediction_outlines(pred, COLORS)
    assert outlines[5, 5] != 0 and outlines[10, 10] == 0 and outlines[0, 0] == 0
    buf = np.zeros_like(outlines)
    paint_disagreement(buf, outlines, probs, label, (0.9, 0.9, 0.9), Rect(0, 0, 20, 30))
    fill = buf[10, 10]
    assert fill != 0 and buf[5, 5] == outlines[5, 5] and buf[0, 0] == 0
    label[5:15, 5:15] = 1                      # accepted: the label agrees now
    paint_disagreement(buf, outlines, probs, label, (0.9, 0.9, 0.9), Rect(0, 0, 10, 30))  # top half redrawn
    assert buf[7, 10] == 0 and buf[12, 10] == fill  # the rest waits for its own dirty rect
