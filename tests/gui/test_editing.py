"""Painting through the real window: each tool changes exactly the pixels it should; undo/redo are exact."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from fcnstudio.gui.tools import Tool

from gui_helpers import click, drag


def capsule_pixels(shape, points, radius):
    """Independent geometry: pixels whose centre lies within ``radius`` of the polyline."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    inside = np.zeros(shape, bool)
    for (ax, ay), (bx, by) in zip(points, points[1:] or points):
        dx, dy = bx - ax, by - ay
        l2 = dx * dx + dy * dy
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / l2, 0, 1) if l2 else 0
        px, py = ax + t * dx, ay + t * dy
        inside |= (xs - px) ** 2 + (ys - py) ** 2 <= radius * radius
    return inside


def use(window, tool, cls=None, size=None, preserve=None):
    values = {"tool": tool}
    if cls is not None:
        values["current_class"] = cls
    if size is not None:
        values["brush_size"] = size
    if preserve is not None:
        values["preserve"] = preserve
    window.tool_state.set(**values)


def test_window_shows_the_dataset(window, dataset):
    assert window.windowTitle() == "FCN Studio — data"
    assert window.session.pair.name == "a"
    assert window.pair_list.model.rowCount() == 3
    assert window.canvas.scale > 1  # a 60x40 image is fitted to the canvas


def test_brush_drag_paints_exactly_the_stroke_and_undo_redo_are_exact(window):
    s = window.session
    before = s.mask.copy()
    use(window, Tool.BRUSH, cls=2, size=5)
    points = [(5, 5), (12, 5), (20, 5), (20, 15)]
    drag(window.canvas, points)
    expected = before.copy()
    expected[capsule_pixels(before.shape, points, 2.5)] = 2
    np.testing.assert_array_equal(s.mask, expected)
    assert s.dirty and window.windowTitle().endswith("*")
    after = s.mask.copy()
    window.undo_action.trigger()
    np.testing.assert_array_equal(s.mask, before)
    assert not s.dirty
    window.redo_action.trigger()
    np.testing.assert_array_equal(s.mask, after)
    # the overlay shown is the mask through the colour table
    assert (window.canvas.overlay.colors()[after == 2] == window.canvas.overlay.lut[2]).all()


def test_one_undo_step_per_stroke(window):
    s = window.session
    before = s.mask.copy()
    use(window, Tool.BRUSH, cls=1, size=3)
    drag(window.canvas, [(2, 2), (10, 2), (10, 10)])
    drag(window.canvas, [(30, 30), (35, 35)])
    window.undo_action.trigger()
    window.undo_action.trigger()
    np.testing.assert_array_equal(s.mask, before)


def test_eraser_paints_background(window):
    s = window.session
    use(window, Tool.ERASER, size=4)
    drag(window.canvas, [(40, 25), (49, 25)])
    assert (s.mask[25, 41:49] == 0).all()
    assert (s.mask[21, 41:49] == 1).all()


def test_fill_is_4_connected(window):
    s = window.session
    s.mask[5:16, 5:26] = 1
    s.mask[6:15, 6:25] = 0  # a ring of class 1 around a background hole
    s.mask[15, 26] = 0
    before = s.mask.copy()
    use(window, Tool.FILL, cls=2)
    click(window.canvas, 10, 10)
    expected = before.copy()
    expected[6:15, 6:25] = 2
    np.testing.assert_array_equal(s.mask, expected)
    window.undo_action.trigger()
    np.testing.assert_array_equal(s.mask, before)


def test_polygon_by_clicks_fills_on_enter_and_esc_cancels(window):
    s = window.session
    before = s.mask.copy()
    use(window, Tool.POLYGON, cls=2)
    for x, y in [(2, 2), (12, 2), (12, 8), (2, 8)]:
        click(window.canvas, x, y)
    assert (s.mask == before).all()  # nothing until Enter
    QTest.keyClick(window.canvas, Qt.Key.Key_Return)
    expected = before.copy()
    expected[2:9, 2:13] = 2
    np.testing.assert_array_equal(s.mask, expected)
    for x, y in [(30, 2), (38, 2), (38, 8)]:
        click(window.canvas, x, y)
    QTest.keyClick(window.canvas, Qt.Key.Key_Escape)
    np.testing.assert_array_equal(s.mask, expected)


def test_lasso_drag_fills_on_release(window):
    s = window.session
    use(window, Tool.POLYGON, cls=2)
    square = [(2, 20)] + [(2 + i, 20) for i in range(1, 11)] + [(12, 20 + i) for i in range(1, 11)] \
        + [(12 - i, 30) for i in range(1, 11)]
    drag(window.canvas, square)
    assert (s.mask[20:31, 2:13] == 2).all()
    assert s.mask[19, 5] == 0 and s.mask[32, 5] == 0


def test_preserve_labels_leaves_other_classes(window):
    s = window.session
    before = s.mask.copy()
    use(window, Tool.BRUSH, cls=2, size=9, preserve=True)
    drag(window.canvas, [(35, 25), (55, 25)])
    assert (s.mask[before == 1] == 1).all()
    stroke = capsule_pixels(before.shape, [(35, 25), (55, 25)], 4.5)
    assert (s.mask[stroke & (before == 0)] == 2).all()
    assert (s.mask[~stroke] == before[~stroke]).all()


def test_pick_selects_the_class_under_the_cursor(window):
    use(window, Tool.PICK, cls=2)
    click(window.canvas, 45, 25)
    assert window.tool_state.current_class == 1


def test_brush_size_keys_and_outline(window):
    use(window, Tool.BRUSH, size=10)
    window.toolbar.larger.trigger()
    assert window.tool_state.brush_size > 10
    window.toolbar.smaller.trigger()
    window.toolbar.smaller.trigger()
    assert window.tool_state.brush_size < 10
    assert window.toolbar.size_box.value() == window.tool_state.brush_size
