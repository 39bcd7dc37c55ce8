"""The window as a user meets it: saving, closing with edits, shortcuts, bad files, settings."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from gui_helpers import COLORS, drag
from PIL import Image
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDropEvent
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication, QMessageBox

from fcnstudio.core.io import read_mask_file
from fcnstudio.gui.fix_dialog import FixDialog
from fcnstudio.gui.tools import Tool


def paint(window, cls=2, points=((5, 5), (15, 5))):
    window.tool_state.set(tool=Tool.BRUSH, current_class=cls, brush_size=3)
    drag(window.canvas, list(points))


def test_ctrl_s_writes_a_palette_png_equal_to_the_mask(window, dataset):
    paint(window)
    window.save_action.trigger()
    mf = read_mask_file(dataset / "masks" / "a.png")
    assert mf.mode == "P" and mf.format == "PNG"
    np.testing.assert_array_equal(mf.array, window.session.mask)
    assert [tuple(mf.palette[i]) for i in range(3)] == COLORS
    assert not window.session.dirty and not window.windowTitle().endswith("*")


def test_close_with_unsaved_edits_asks(window, dataset, monkeypatch):
    paint(window)
    asked = []

    def answer(result):
        def box(parent, title, text, *args):
            asked.append(text)
            return result
        return box

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not window.close()
    assert window.isVisible() and window.session.dirty and asked
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    assert window.close()
    np.testing.assert_array_equal(read_mask_file(dataset / "masks" / "a.png").array, window.session.mask)


def test_close_discard_leaves_the_file(window, dataset, monkeypatch):
    before = read_mask_file(dataset / "masks" / "a.png").array
    paint(window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Discard)
    assert window.close()
    np.testing.assert_array_equal(read_mask_file(dataset / "masks" / "a.png").array, before)


def test_shortcuts_change_tool_class_and_pair(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.canvas.setFocus()
    for key, tool in (("e", Tool.ERASER), ("f", Tool.FILL), ("p", Tool.POLYGON), ("i", Tool.PICK), ("b", Tool.BRUSH)):
        QTest.keyClick(window.canvas, key)
        assert window.tool_state.tool == tool, key
    QTest.keyClick(window.canvas, "2")
    assert window.tool_state.current_class == 2
    QTest.keyClick(window.canvas, "9")  # no class 9: unchanged
    assert window.tool_state.current_class == 2
    size = window.tool_state.brush_size
    QTest.keyClick(window.canvas, "]")
    assert window.tool_state.brush_size > size
    QTest.keyClick(window.canvas, Qt.Key.Key_PageDown)
    assert window.session.pair.name == "b"
    QTest.keyClick(window.canvas, "n", Qt.KeyboardModifier.ShiftModifier)
    assert window.session.pair.name == "a"
    QTest.keyClick(window.canvas, "h")
    assert not window.canvas.mask_visible
    QTest.keyClick(window.canvas, "c")
    assert window.canvas.contours
    paint(window)
    QTest.keyClick(window.canvas, "z", Qt.KeyboardModifier.ControlModifier)
    assert not window.session.dirty
    QTest.keyClick(window.canvas, "y", Qt.KeyboardModifier.ControlModifier)
    assert window.session.dirty


def test_switching_pair_autosaves_by_default(window, dataset):
    paint(window)
    edited = window.session.mask.copy()
    assert window.go_to(1)
    np.testing.assert_array_equal(read_mask_file(dataset / "masks" / "a.png").array, edited)
    assert window.go_to(0)  # history is kept per image
    window.undo_action.trigger()
    assert window.session.dirty


def test_switching_pair_asks_when_autosave_is_off(window, dataset, monkeypatch):
    window.autosave_action.trigger()
    assert not window.session.autosave
    paint(window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Cancel)
    assert not window.go_to(1)
    assert window.session.pair.name == "a" and window.session.dirty
    window.pair_list.pair_requested.emit(1)  # the list asks the same way
    assert window.session.pair.name == "a"
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Discard)
    assert window.go_to(1)
    assert not read_mask_file(dataset / "masks" / "a.png").array[5, 5]


def test_pair_without_mask_is_annotated_from_empty(window, dataset):
    window.go_to(2)
    s = window.session
    assert s.mask_is_new and not s.mask.any()
    assert window.pair_list.model.data(window.pair_list.model.index(2), Qt.ItemDataRole.ToolTipRole).count("no mask")
    paint(window, cls=1)
    window.save_action.trigger()
    path = dataset / "masks" / "c.png"
    np.testing.assert_array_equal(read_mask_file(path).array, s.mask)
    assert s.pair.mask == path and not s.pair_status(2).no_mask


def test_binary_255_mask_opens_read_only_with_a_banner(make_window, tmp_path):
    root = tmp_path / "em"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.full((20, 20), 128, np.uint8)).save(root / "images" / "0.png")
    m = np.zeros((20, 20), np.uint8)
    m[5:15, 5:15] = 255
    Image.fromarray(m).save(root / "masks" / "0.png")
    window = make_window(root)
    s = window.session
    assert s.read_only is not None and s.read_only.code == "binary-255"
    assert window.banner.isVisible() and "0/255" in window.banner.label.text()
    assert window.banner.fix_button.isVisible()
    fixed = []
    window.fix_handler = lambda code, session: fixed.append(code)
    window.banner.fix_button.click()
    assert fixed == ["binary-255"]
    before = s.mask.copy()
    paint(window, cls=1)
    np.testing.assert_array_equal(s.mask, before)
    assert not s.dirty
    window.save_action.trigger()  # refused with a message, nothing written
    np.testing.assert_array_equal(np.array(Image.open(root / "masks" / "0.png")), m)


def test_unreadable_image_leaves_the_window_usable(window, dataset):
    (dataset / "images" / "b.png").write_bytes(b"not a png at all")
    window.go_to(1)
    assert window.banner.isVisible() and "b.png" in window.banner.label.text()
    assert window.session.pair_status(1).unreadable
    window.go_to(0)
    assert not window.banner.isVisible()
    paint(window)
    assert window.session.dirty


def test_unreadable_folder_shows_a_message_and_keeps_the_dataset(window, tmp_path):
    assert not window.open_dataset(tmp_path / "does-not-exist")
    assert window.banner.isVisible() and "does-not-exist" in window.banner.label.text()
    assert window.session.dataset.name == "data"
    (tmp_path / "empty").mkdir()
    assert not window.open_dataset(tmp_path / "empty")
    paint(window)
    assert window.session.dirty


def test_drop_a_folder_opens_it(window, tmp_path):
    from gui_helpers import make_dataset

    other = make_dataset(tmp_path / "other")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.session.dataset.name == "other"
    assert window.windowTitle() == "FCN Studio — other"


def test_settings_are_remembered(make_window, dataset, isolated_settings):
    w = make_window(dataset)
    w.tool_state.set(brush_size=33)
    w.toolbar.opacity.setValue(70)
    w.go_to(1)
    assert w.close()
    w2 = make_window()
    assert w2.tool_state.brush_size == 33
    assert abs(w2.canvas.opacity - 0.7) < 1e-6
    assert w2.settings.last_dataset == str(dataset.resolve())
    assert w2.settings.last_index(str(dataset.resolve())) == 1
    assert isolated_settings.exists()


def test_classes_panel_adds_renames_and_writes_the_project(window, dataset):
    panel = window.classes
    assert panel.tree.topLevelItemCount() == 3
    assert panel.tree.topLevelItem(1).text(2).startswith("100")  # 10x10 block of class 1
    window.session.add_class("nucleus", (10, 20, 30))
    assert panel.tree.topLevelItem(3).text(1) == "nucleus"
    item = panel.tree.topLevelItem(3)
    item.setText(1, "nuclei")
    data = json.loads((dataset / "fcnstudio.json").read_text())
    assert [c["name"] for c in data["classes"]] == ["background", "cell", "spot", "nuclei"]
    assert data["classes"][3]["color"] == [10, 20, 30]


def test_recolour_through_the_colour_dialog(window, dataset, monkeypatch):
    from PyQt6.QtGui import QColor
    from PyQt6.QtWidgets import QColorDialog

    monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: QColor(1, 2, 3))
    window.classes.tree.setCurrentItem(window.classes.tree.topLevelItem(2))
    window.classes.color_button.click()
    assert window.session.project.classes[2].color == (1, 2, 3)
    assert json.loads((dataset / "fcnstudio.json").read_text())["classes"][2]["color"] == [1, 2, 3]
    assert window.canvas.overlay.lut[2] == (255 << 24) | (1 << 16) | (2 << 8) | 3


def test_dataset_without_project_file_writes_nothing_on_open(make_window, tmp_path):
    from gui_helpers import make_dataset

    root = make_dataset(tmp_path / "noproj", project=False)
    w = make_window(root)
    w.go_to(1)
    w.go_to(0)
    assert not (root / "fcnstudio.json").exists()
    assert sorted(p.name for p in root.iterdir()) == ["images", "masks"]


def test_class_visibility_and_opacity(window):
    canvas = window.canvas
    item = window.classes.tree.topLevelItem(1)
    item.setCheckState(0, Qt.CheckState.Unchecked)
    assert 1 in canvas.hidden_classes
    assert (canvas.overlay.colors()[window.session.mask == 1] == 0).all()
    item.setCheckState(0, Qt.CheckState.Checked)
    assert (canvas.overlay.colors()[window.session.mask == 1] != 0).all()
    window.toolbar.opacity.setValue(20)
    assert abs(canvas.opacity - 0.2) < 1e-6


def test_16bit_image_gets_auto_contrast(make_window, tmp_path):
    root = tmp_path / "deep"
    (root / "images").mkdir(parents=True)
    img = np.linspace(1000, 3000, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(img).save(root / "images" / "x.png")
    w = make_window(root)
    assert w.session.image.dtype == np.uint16
    lo, hi = w.canvas.levels
    assert 1000 <= lo < 1100 and 2900 < hi <= 3000
    assert w.toolbar.low.isVisible() or w.toolbar.contrast_actions[0].isVisible()
    w.canvas.set_levels(0, 4000)
    assert w.canvas._image_buf.max() < 200


def test_zoom_fit_and_actual_size(window):
    c = window.canvas
    fit = c.scale
    c.zoom_by(2.0, QPointF(100, 100))
    assert abs(c.scale - 2 * fit) < 1e-9
    c.actual_size()
    assert c.scale == 1.0
    c.fit()
    assert abs(c.scale - fit) < 1e-9


def test_status_bar_shows_pixel_and_class(window):
    c = window.canvas
    c.cursor_moved.emit(45, 25)
    text = window.cursor_label.text()
    assert "x 45" in text and "y 25" in text and "cell" in text


def test_shortcuts_dialog_lists_the_shortcuts(window, qtbot):
    window.show_shortcuts()
    dialog = window.shortcuts_dialog
    qtbot.waitExposed(dialog)
    keys = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    names = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert "Ctrl+S" in keys and "B" in keys and "Brush" in names and "Undo" in names
    dialog.close()


@pytest.mark.parametrize("argv", [["gui"]])
def test_window_opens_without_importing_torch(tmp_path, argv, dataset):
    code = (
        "import os, sys;"
        "os.environ['QT_QPA_PLATFORM']='offscreen';"
        f"os.environ['FCNSTUDIO_SETTINGS']=r'{tmp_path / 's.ini'}';"
        "os.environ['FCNSTUDIO_EXIT_AFTER_SHOW']='1';"
        "from fcnstudio.cli import main;"
        f"rc = main(['gui', r'{dataset}']);"
        "print('TORCH', 'torch' in sys.modules); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "FCNSTUDIO_SHOWN" in out.stdout
    assert "TORCH False" in out.stdout


def test_fix_button_converts_the_masks_in_the_background(make_window, tmp_path, qtbot, monkeypatch):
    pytest.importorskip("fcnstudio.core.fixes")
    root = tmp_path / "em"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in ("0", "1"):
        Image.fromarray(np.full((24, 24), 128, np.uint8)).save(root / "images" / f"{name}.png")
        m = np.zeros((24, 24), np.uint8)
        m[4:12, 4:12] = 255
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    window = make_window(root)
    assert window.session.read_only.code == "binary-255"
    monkeypatch.setattr(FixDialog, "open", lambda self: self.accept())
    window.banner.fix_button.click()
    qtbot.waitUntil(lambda: window.session.editable, timeout=30000)
    assert window.session.mask[5, 5] == 1 and window.session.mask[0, 0] == 0
    assert not window.banner.isVisible()
    assert list((root / ".fcnstudio" / "backup").rglob("0.png"))


def test_show_pair_by_finding_path(window):
    assert window.show_pair("masks/b.png", location=(30, 20))
    assert window.session.pair.name == "b"
    x, y = window.canvas.to_image(QPointF(window.canvas.width() / 2, window.canvas.height() / 2))
    assert (x, y) == (pytest.approx(30.5), pytest.approx(20.5))
    assert window.show_pair("c") and window.session.pair.name == "c"
    assert not window.show_pair("nope")
