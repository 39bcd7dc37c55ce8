"""The mask as the canvas draws it: a QImage kept in step with the mask through a class-colour table.

For an 8-bit mask the overlay is an Indexed8 QImage over the mask's own
memory with the colour table (:func:`~fcnstudio.gui.canvas_arrays.build_lut`)
as its colour table: nothing to build on load and nothing to recompute on an
edit. A 16-bit mask goes through an ARGB32 buffer (numpy LUT), and contours
through a buffer of edge pixels; both are recomputed only in an edit's dirty
rectangle.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtGui import QImage

from fcnstudio.core.edits import Rect
from fcnstudio.gui.canvas_arrays import build_lut, contour_edges, grown
from fcnstudio.gui.qimage import qimage


class MaskOverlay:
    """The overlay image of one mask: its colour table, its pixels and the QImage over them."""

    def __init__(self) -> None:
        #: mask value → ARGB32 colour (uint32)
        self.lut = np.zeros(256, np.uint32)
        #: the pixels ``image`` shows: the mask itself, its contour copy (8-bit), or ARGB32 colours
        self.buf: np.ndarray | None = None
        self.image: QImage | None = None
        #: the mask the overlay was built for
        self.mask: np.ndarray | None = None
        self.contours = False

    def build(self, mask, project, hidden=(), contours: bool = False) -> None:
        """Rebuild the colour table and the pixels (new mask, classes, visibility or contours)."""
        self.mask, self.contours = mask, contours
        if mask is None or project is None:
            self.buf = self.image = None
            return
        self.lut = build_lut(project.colors, 256 if mask.dtype == np.uint8 else 65536,
                             hidden=hidden, ignore_index=project.ignore_index)
        h, w = mask.shape
        if mask.dtype == np.uint8:
            # The QImage shows the mask's own memory through the colour table: zero copy.
            self.buf = np.zeros((h, w), np.uint8) if contours else mask
            if contours:
                self._paint(Rect(0, 0, h, w))
            self.image = qimage(self.buf, QImage.Format.Format_Indexed8)
            self.image.setColorTable([int(v) for v in self.lut])
            return
        if self.buf is None or self.buf.shape != (h, w) or self.buf.dtype != np.uint32:
            self.buf = np.empty((h, w), np.uint32)
            self.image = qimage(self.buf, QImage.Format.Format_ARGB32_Premultiplied)
        self._paint(Rect(0, 0, h, w))

    def shows(self, mask) -> bool:
        """Whether the overlay is built for ``mask`` (the same array, not only equal values)."""
        return self.image is not None and mask is self.mask

    def refresh(self, rect: Rect) -> Rect:
        """The mask changed in ``rect``: recompute the pixels there; returns the region that changed."""
        if self.contours:  # a pixel's edge status depends on its neighbours
            rect = grown(rect, self.mask.shape)
        if self.buf is not self.mask:  # an 8-bit mask without contours is drawn as it is
            self._paint(rect)
        return rect

    def colors(self) -> np.ndarray | None:
        """The overlay as ARGB32 values (uint32, one per mask pixel): what the canvas draws."""
        if self.buf is None:
            return None
        return self.buf if self.buf.dtype == np.uint32 else self.lut[self.buf]

    def _paint(self, rect: Rect) -> None:
        """Recompute the pixels in ``rect`` (ARGB through the LUT, or the contour copy of an 8-bit mask)."""
        mask = self.mask
        sub = mask[rect.slices]
        out = self.buf[rect.slices]
        if out.dtype == np.uint8:  # contours of an 8-bit mask: the class where it borders another
            np.copyto(out, sub)
            out[~contour_edges(mask, rect)] = 0
            return
        np.take(self.lut, sub, out=out, mode="clip")
        if self.contours:
            out[~contour_edges(mask, rect)] = 0
