"""The canvas draws what the session holds: LUT, contours, 16-bit masks and images, partial updates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_helpers import drag
from PIL import Image
from PyQt6.QtCore import QRect

from fcnstudio.core.edits import Rect
from fcnstudio.gui.canvas_arrays import auto_levels, build_lut, contour_edges, to_display
from fcnstudio.gui.tools import Tool


def reference_overlay(mask, lut, contours):
    out = lut[mask]
    if contours:
        out[~contour_edges(mask, Rect(0, 0, *mask.shape))] = 0
    return out


def test_build_lut_background_hidden_ignore():
    lut = build_lut([(0, 0, 0), (10, 20, 30), (1, 2, 3)], 256, hidden={2}, ignore_index=255)
    assert lut[0] == 0 and lut[2] == 0
    assert lut[1] == (255 << 24) | (10 << 16) | (20 << 8) | 30
    assert lut[255] >> 24 == 255 and lut[7] >> 24 == 255  # ignore and "no class" are visible


def test_contour_edges_of_a_block():
    m = np.zeros((8, 8), np.uint8)
    m[2:6, 2:6] = 1
    e = contour_edges(m, Rect(0, 0, 8, 8))
    assert e[2, 2] and e[2, 4] and not e[3, 3] and not e[0, 0]
    np.testing.assert_array_equal(contour_edges(m, Rect(1, 1, 5, 5)), e[1:5, 1:5])


def test_auto_levels_and_display_of_16bit():
    img = np.arange(10000, dtype=np.uint16).reshape(100, 100)
    lo, hi = auto_levels(img)
    assert 40 <= lo <= 60 and 9940 <= hi <= 9960
    buf = to_display(img, (lo, hi))
    assert buf.dtype == np.uint8 and buf[0, 0] == 0 and buf[-1, -1] == 255


@pytest.mark.parametrize("contours", [False, True])
def test_overlay_follows_edits_and_undo(window, contours):
    canvas, s = window.canvas, window.session
    canvas.set_contours(contours)
    window.tool_state.set(tool=Tool.BRUSH, current_class=2, brush_size=7)
    drag(canvas, [(3, 3), (30, 20), (45, 25)])
    np.testing.assert_array_equal(canvas.overlay.colors(), reference_overlay(s.mask, canvas.overlay.lut, contours))
    window.undo_action.trigger()
    np.testing.assert_array_equal(canvas.overlay.colors(), reference_overlay(s.mask, canvas.overlay.lut, contours))


def test_16bit_masks_use_the_argb_overlay(make_window, tmp_path):
    root = tmp_path / "many"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(root / "images" / "x.png")
    import cv2

    m = np.zeros((30, 30), np.uint16)
    m[5:10, 5:10] = 300
    cv2.imwrite(str(root / "masks" / "x.png"), m)
    classes = [{"name": f"c{i}"} for i in range(301)]
    (root / "fcnstudio.json").write_text(json.dumps({"classes": classes, "ignore_index": None}))
    w = make_window(root)
    s = w.session
    assert s.editable and s.mask.dtype == np.uint16
    w.tool_state.set(tool=Tool.BRUSH, current_class=300, brush_size=5)
    drag(w.canvas, [(20, 20), (25, 25)])
    assert (s.mask[20:24, 20:24] == 300).all()
    np.testing.assert_array_equal(w.canvas.overlay.colors(), reference_overlay(s.mask, w.canvas.overlay.lut, False))


def test_an_edit_repaints_only_its_region(window, monkeypatch):
    canvas = window.canvas
    updates = []
    original = canvas.update

    def record(*args):
        updates.append(args)
        return original(*args)

    monkeypatch.setattr(canvas, "update", record)
    window.tool_state.set(tool=Tool.FILL, current_class=2)
    window.session.apply(__import__("fcnstudio.core.edits", fromlist=["brush"]).brush, (5, 5), (6, 5), radius=1, value=2)
    rects = [a[0] for a in updates if a and isinstance(a[0], QRect)]
    assert rects and all(r.width() < canvas.width() / 4 for r in rects)


def test_wheel_zooms_around_the_cursor(window):
    from PyQt6.QtCore import QPoint, QPointF, Qt
    from PyQt6.QtGui import QWheelEvent
    from PyQt6.QtWidgets import QApplication

    c = window.canvas
    anchor = c.to_widget(20.5, 10.5)
    scale = c.scale
    ev = QWheelEvent(anchor, c.mapToGlobal(anchor), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(c, ev)
    assert c.scale == pytest.approx(scale * 1.25)
    x, y = c.to_image(anchor)
    assert (x, y) == (pytest.approx(20.5), pytest.approx(10.5))


def test_middle_drag_and_space_drag_pan_without_painting(window):
    from gui_helpers import send_mouse
    from PyQt6.QtCore import QPointF, Qt
    from PyQt6.QtGui import QMouseEvent
    from PyQt6.QtTest import QTest

    c, s = window.canvas, window.session
    before = s.mask.copy()
    window.tool_state.set(tool=Tool.BRUSH, current_class=2)
    start = c.offset
    drag(c, [(10, 10), (20, 10)], button=Qt.MouseButton.MiddleButton)
    assert c.offset.x() > start.x() and (s.mask == before).all()
    c.setFocus()
    QTest.keyPress(c, Qt.Key.Key_Space)
    moved = c.offset
    p0, p1 = QPointF(100, 100), QPointF(100, 160)
    send_mouse(c, QMouseEvent.Type.MouseButtonPress, p0)
    send_mouse(c, QMouseEvent.Type.MouseMove, p1, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    send_mouse(c, QMouseEvent.Type.MouseButtonRelease, p1, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    QTest.keyRelease(c, Qt.Key.Key_Space)
    assert c.offset.y() == pytest.approx(moved.y() + 60)
    assert (s.mask == before).all()
