"""The model's prediction as a second layer over the mask: what the Review dock draws on the canvas.

Not a widget: the canvas calls :meth:`PredictionLayer.paint` after the mask
overlay (``Canvas.layers``), in image coordinates. The layer shows the
predicted classes' outlines and the confident disagreement with the current
mask (:mod:`.review_arrays`), and a frame around the selected region. It holds
the probabilities of one image; :meth:`refresh` recomputes an edit's dirty
rectangle, :meth:`clear` takes it off (not reviewing).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PyQt6.QtCore import QRect, QRectF
from PyQt6.QtGui import QColor, QImage, QPainter, QPen

from fcnstudio.core.edits import Rect
from fcnstudio.gui.qimage import qimage
from fcnstudio.gui.review_arrays import DISAGREE_COLOR, paint_disagreement, prediction_outlines

__all__ = ["PredictionLayer"]


class PredictionLayer:
    """The prediction of one image over its mask, and the selected region's frame."""

    def __init__(self) -> None:
        self.visible = True
        self.box: tuple | None = None
        self.buf: np.ndarray | None = None
        self.image: QImage | None = None
        self._inputs = None  # (probs, thresholds, ignore_index)
        self._outlines: np.ndarray | None = None

    @property
    def shown(self) -> bool:
        """A prediction is loaded (whether or not :attr:`visible`)."""
        return self.image is not None

    def show(self, probs: np.ndarray, pred: np.ndarray, label: np.ndarray, colors, thresholds: Sequence[float],
             ignore_index: int | None, box) -> None:
        """Draw ``probs`` (H x W x C; ``pred`` its argmax) against ``label``, framing ``box``."""
        h, w = label.shape
        self._inputs = (probs, tuple(thresholds), ignore_index)
        self._outlines = prediction_outlines(pred, colors)
        self.buf = np.zeros((h, w), np.uint32)
        self.image = qimage(self.buf, QImage.Format.Format_ARGB32_Premultiplied)
        self.box = tuple(box)
        self.refresh(label, Rect(0, 0, h, w))

    def refresh(self, label: np.ndarray, rect: Rect) -> None:
        """The mask changed in ``rect``: redraw the disagreement there."""
        if self.buf is None or label is None or label.shape != self.buf.shape:
            return
        probs, thresholds, ignore_index = self._inputs
        paint_disagreement(self.buf, self._outlines, probs, label, thresholds, rect, ignore_index)

    def clear(self) -> None:
        self.buf = self.image = self._outlines = self._inputs = None
        self.box = None

    def paint(self, p: QPainter, src: QRect) -> None:
        """Draw on the canvas's painter (image coordinates); ``src`` is the part of the image to redraw."""
        if not self.visible or self.image is None:
            return
        m = src.intersected(QRect(0, 0, self.image.width(), self.image.height()))
        if not m.isEmpty():
            p.drawImage(QRectF(m), self.image, QRectF(m))
        if self.box is not None:
            x, y, w, h = self.box
            for color, width in ((QColor(0, 0, 0, 200), 4), (QColor(*DISAGREE_COLOR), 2)):
                pen = QPen(color, width)
                pen.setCosmetic(True)  # screen pixels, whatever the zoom
                p.setPen(pen)
                p.drawRect(QRectF(x - 2, y - 2, w + 4, h + 4))
