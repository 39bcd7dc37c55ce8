"""The image with its mask drawn over it: zoom, pan, and the surface the tools paint on.

The canvas owns no data: it shows ``session.image`` and ``session.mask`` and
keeps only view state (zoom, pan, opacity, contrast) and what ``paintEvent``
draws: the image as a QImage, and the mask overlay (:class:`MaskOverlay`,
alpha 0 for background and hidden classes; opacity through the painter),
recomputed only in an edit's dirty rectangle. Every edit repaints only the
widget rectangle over its dirty rectangle.

Coordinates: widget point ``w = image point * scale + offset``; image pixel
``(x, y)`` covers ``[x, x + 1) x [y, y + 1)`` in image coordinates.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QPointF, QRect, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QTransform
from PyQt6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QSizePolicy, QWidget

from fcnstudio.core.edits import Rect
from fcnstudio.gui.app import observe
from fcnstudio.gui.canvas_arrays import auto_levels, to_display, value_range
from fcnstudio.gui.mask_overlay import MaskOverlay
from fcnstudio.gui.qimage import qimage

MIN_SCALE, MAX_SCALE = 1 / 64, 64.0
BACKGROUND = QColor(38, 38, 42)


class Canvas(QWidget):
    """Shows the session's image and mask; forwards gestures to a tool controller."""

    #: pixel under the cursor (x, y), or (-1, -1) when outside the image
    cursor_moved = pyqtSignal(int, int)
    zoom_changed = pyqtSignal(float)
    #: contrast of a non-8-bit image changed: (low, high)
    levels_changed = pyqtSignal(float, float)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(200, 150)
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self._fit_mode = True
        self.opacity = 0.5
        self.mask_visible = True
        self.contours = False
        self.hidden_classes: set[int] = set()
        self.levels: tuple[float, float] | None = None
        self.level_range: tuple[float, float] | None = None
        self._image_buf = None
        self._image: QImage | None = None
        self.overlay = MaskOverlay()
        #: more layers over the mask, each ``paint(painter, src)`` in image coordinates (the Review dock's)
        self.layers: list = []
        self._shape: tuple[int, int] | None = None
        self._mouse: QPointF | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._hint = "Open a dataset: File → Open dataset…, or drop a folder here."
        observe(self, [
            (session.dataset_changed, self.hidden_classes.clear),
            (session.pair_changed, self._on_pair_changed),
            (session.mask_changed, self._on_mask_changed),
            (session.project_changed, self.rebuild_overlay),
        ])

    def set_controller(self, controller) -> None:
        self.controller = controller
        self._update_cursor()

    # ------------------------------------------------------------------ session → caches

    def _on_pair_changed(self) -> None:
        session = self.session
        shape = session.shape
        image = session.image
        self.levels = self.level_range = None
        if image is not None and image.dtype != np.uint8:
            self.levels = auto_levels(image)
            self.level_range = value_range(image)
        self._rebuild_image()
        self.rebuild_overlay(update=False)
        if shape != self._shape:
            self._shape = shape
            self._fit_mode = True
        if self._fit_mode:
            self.fit()
        self._update_cursor()
        self.update()
        if self._mouse is not None:
            self._emit_cursor(self._mouse)
        else:
            self.cursor_moved.emit(-1, -1)
        if self.levels is not None:
            self.levels_changed.emit(*self.levels)

    def _rebuild_image(self) -> None:
        image = self.session.image
        if image is None:
            self._image_buf = self._image = None
            return
        self._image_buf = to_display(image, self.levels)
        self._image = qimage(self._image_buf)

    def set_levels(self, low: float, high: float) -> None:
        """Contrast of a 16-bit or float image: ``low``..``high`` shown as black..white."""
        if self.session.image is None or self.session.image.dtype == np.uint8:
            return
        if high <= low:
            high = low + 1e-6 if self.session.image.dtype.kind == "f" else low + 1
        self.levels = (float(low), float(high))
        self._rebuild_image()
        self.update()
        self.levels_changed.emit(*self.levels)

    def auto_contrast(self) -> None:
        if self.session.image is not None and self.session.image.dtype != np.uint8:
            self.set_levels(*auto_levels(self.session.image))

    def rebuild_overlay(self, update: bool = True) -> None:
        """Rebuild the overlay (new mask, classes, visibility or contours)."""
        self.overlay.build(self.session.mask, self.session.project, self.hidden_classes, self.contours)
        if update:
            self.update()

    def _on_mask_changed(self, rect: Rect | None) -> None:
        if rect is None or not self.overlay.shows(self.session.mask):
            self.rebuild_overlay()
            return
        rect = self.overlay.refresh(rect)
        if self.mask_visible:
            self.update(self.widget_rect(rect))

    # ------------------------------------------------------------------ view options

    def set_opacity(self, value: float) -> None:
        self.opacity = max(0.0, min(1.0, float(value)))
        self.update()

    def set_mask_visible(self, visible: bool) -> None:
        self.mask_visible = bool(visible)
        self.update()

    def set_contours(self, on: bool) -> None:
        if bool(on) != self.contours:
            self.contours = bool(on)
            self.rebuild_overlay()

    def set_class_visible(self, index: int, visible: bool) -> None:
        changed = (index in self.hidden_classes) == visible
        (self.hidden_classes.discard if visible else self.hidden_classes.add)(index)
        if changed:
            self.rebuild_overlay()

    # ------------------------------------------------------------------ geometry

    def image_size(self) -> tuple[int, int] | None:
        """``(width, height)`` shown, or None."""
        return None if self._shape is None else (self._shape[1], self._shape[0])

    def to_image(self, p: QPointF) -> tuple[float, float]:
        return ((p.x() - self.offset.x()) / self.scale, (p.y() - self.offset.y()) / self.scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(x * self.scale + self.offset.x(), y * self.scale + self.offset.y())

    def widget_rect(self, rect: Rect, margin: int = 2) -> QRect:
        """The widget rectangle covering mask ``rect`` (plus ``margin`` px)."""
        s, o = self.scale, self.offset
        r = QRectF(rect.x0 * s + o.x(), rect.y0 * s + o.y(), rect.width * s, rect.height * s)
        return r.toAlignedRect().adjusted(-margin, -margin, margin, margin)

    def fit(self) -> None:
        """Whole image in the window."""
        size = self.image_size()
        self._fit_mode = True
        if size is None:
            return
        w, h = size
        s = min(self.width() / w, self.height() / h)
        s = max(MIN_SCALE, min(MAX_SCALE, s))
        self._set_view(s, QPointF((self.width() - w * s) / 2, (self.height() - h * s) / 2))

    def zoom_to(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``scale``, keeping the image point under ``anchor`` (widget) in place."""
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        scale = max(MIN_SCALE, min(MAX_SCALE, scale))
        ix, iy = self.to_image(anchor)
        self._fit_mode = False
        self._set_view(scale, QPointF(anchor.x() - ix * scale, anchor.y() - iy * scale))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.zoom_to(self.scale * factor, anchor)

    def actual_size(self) -> None:
        self.zoom_to(1.0)

    def pan_by(self, dx: float, dy: float) -> None:
        self._fit_mode = False
        self._set_view(self.scale, QPointF(self.offset.x() + dx, self.offset.y() + dy))

    def center_on(self, x: float, y: float) -> None:
        self._fit_mode = False
        self._set_view(self.scale, QPointF(self.width() / 2 - x * self.scale, self.height() / 2 - y * self.scale))

    def _set_view(self, scale: float, offset: QPointF) -> None:
        old = self.scale
        self.scale, self.offset = scale, offset
        self.update()
        if old != scale:
            self.zoom_changed.emit(scale)

    # ------------------------------------------------------------------ painting

    def _source_rect(self, r: QRect) -> QRect | None:
        """Image pixels under widget rect ``r`` (1 px margin), clipped to the image."""
        size = self.image_size()
        if size is None:
            return None
        x0, y0 = self.to_image(QPointF(r.left(), r.top()))
        x1, y1 = self.to_image(QPointF(r.right() + 1, r.bottom() + 1))
        ix0, iy0 = max(0, math.floor(x0) - 1), max(0, math.floor(y0) - 1)
        ix1, iy1 = min(size[0], math.ceil(x1) + 1), min(size[1], math.ceil(y1) + 1)
        if ix1 <= ix0 or iy1 <= iy0:
            return None
        return QRect(ix0, iy0, ix1 - ix0, iy1 - iy0)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        r = event.rect()
        p.fillRect(r, BACKGROUND)
        src = self._source_rect(r)
        if src is None:
            if self._shape is None:
                hint = self._hint if self.session.dataset is None else "Nothing to show for this pair (see the message above)."
                p.setPen(QColor(200, 200, 200))
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, hint)
            p.end()
            return
        p.setTransform(QTransform(self.scale, 0, 0, self.scale, self.offset.x(), self.offset.y()))
        if self._image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale < 1)
            p.drawImage(QRectF(src), self._image, QRectF(src))
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        overlay = self.overlay
        if overlay.mask is not self.session.mask:  # replaced without an event: never draw freed memory
            self.rebuild_overlay(update=False)
        if overlay.image is not None and self.mask_visible and self.opacity > 0:
            h, w = overlay.buf.shape
            m = src.intersected(QRect(0, 0, w, h))
            if not m.isEmpty():
                # thin outlines need more weight than filled regions to stay visible
                p.setOpacity(0.5 + self.opacity / 2 if self.contours else self.opacity)
                p.drawImage(QRectF(m), overlay.image, QRectF(m))
                p.setOpacity(1.0)
        for layer in self.layers:
            layer.paint(p, src)
        p.resetTransform()
        if self.controller is not None:
            self.controller.paint(p, self)
        p.end()

    def cursor_rect(self, radius_image_px: float | None) -> QRect:
        """Widget rect covering a brush outline of ``radius_image_px`` at the mouse."""
        if self._mouse is None or radius_image_px is None:
            return QRect()
        rr = radius_image_px * self.scale + 3
        c = self._mouse
        return QRectF(c.x() - rr, c.y() - rr, 2 * rr, 2 * rr).toAlignedRect()

    def draw_brush_outline(self, p: QPainter, radius_image_px: float) -> None:
        if self._mouse is None or self._pan_from is not None or self._space:
            return
        rr = radius_image_px * self.scale
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for color, width in ((QColor(0, 0, 0, 160), 3), (QColor(255, 255, 255, 230), 1)):
            p.setPen(QPen(color, width))
            p.drawEllipse(self._mouse, rr, rr)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    # ------------------------------------------------------------------ input

    def _emit_cursor(self, pos: QPointF) -> None:
        x, y = self.to_image(pos)
        ix, iy = math.floor(x), math.floor(y)
        size = self.image_size()
        if size is None or not (0 <= ix < size[0] and 0 <= iy < size[1]):
            ix = iy = -1
        self.cursor_moved.emit(ix, iy)

    def _move_mouse(self, pos: QPointF | None) -> None:
        radius = self.controller.cursor_radius() if self.controller is not None else None
        old = self.cursor_rect(radius)
        self._mouse = pos
        if radius is not None:
            self.update(old)
            self.update(self.cursor_rect(radius))
        if self.controller is not None and self.controller.has_preview():
            self.update()

    def mousePressEvent(self, event) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = pos
            self._update_cursor()
            return
        if self.controller is not None and self._shape is not None:
            self.controller.press(*self.to_image(pos), event.button(), event.modifiers())

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._pan_from is not None:
            d = pos - self._pan_from
            self._pan_from = pos
            self.pan_by(d.x(), d.y())
        elif self.controller is not None and self._shape is not None:
            self.controller.move(*self.to_image(pos), event.buttons())
        self._move_mouse(pos)
        self._emit_cursor(pos)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self._update_cursor()
            return
        if self.controller is not None and self._shape is not None:
            self.controller.release(*self.to_image(event.position()), event.button())

    def mouseDoubleClickEvent(self, event) -> None:
        if self.controller is not None and self._shape is not None and event.button() == Qt.MouseButton.LeftButton:
            if self.controller.double_click(*self.to_image(event.position())):
                return
        self.mousePressEvent(event)

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.25 ** (delta / 120.0), event.position())
        event.accept()

    def enterEvent(self, event) -> None:
        # Take the keyboard (Space to pan, Enter/Esc for polygons) unless the user is typing somewhere.
        focus = QApplication.focusWidget()
        if focus is not self and not isinstance(focus, (QLineEdit, QAbstractSpinBox)) and self.window().isActiveWindow():
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self._move_mouse(None)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
            return
        if self.controller is not None and self.controller.key(event.key()):
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self._update_cursor()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space = False
        super().focusOutEvent(event)

    def resizeEvent(self, event) -> None:
        if self._fit_mode:
            self.fit()
        super().resizeEvent(event)

    def _update_cursor(self) -> None:
        if self._pan_from is not None:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.controller is not None and self.controller.paints() and not self.session.editable:
            self.setCursor(Qt.CursorShape.ForbiddenCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def refresh_cursor(self) -> None:
        """The tool or brush size changed: redraw the outline and the cursor."""
        self._update_cursor()
        self.update()
