"""The checker dock as a user drives it: check, cancel, open a finding, fix (from the dock and the banner)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import numpy as np
import pytest
from defects import binary_masks, blobs, image_like, make_dataset, resized
from gui_helpers import drag
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication, QMessageBox

import fcnstudio.core.checker.run as checks
from fcnstudio.core.io import read_mask_file
from fcnstudio.gui.jobs import live_jobs
from fcnstudio.gui.fix_dialog import FixDialog
from fcnstudio.gui.shortcuts_dialog import action_rows
from fcnstudio.gui.tools import Tool

TIMEOUT = 60000


def write_project(root, n):
    classes = [{"name": "background" if i == 0 else f"class {i}", "color": [0, 0, 0] if i == 0 else [200, 40 + i, 40]}
               for i in range(n)]
    (root / "fcnstudio.json").write_text(json.dumps({"version": 1, "classes": classes, "label_map": {}, "ignore_index": None}))


@pytest.fixture
def defective(tmp_path):
    """Four 0/1 masks, one 0/255 mask (bad255) and one mask shorter than its image (shape)."""
    masks = binary_masks(4, top=1)
    masks["bad255"] = blobs(values=(255,), seed=9)
    masks["shape"] = blobs(48, 80, seed=3)
    return make_dataset(tmp_path / "defective", masks, images={"shape": image_like(np.zeros((64, 80), np.uint8))})


@pytest.fixture
def smeared(tmp_path):
    """Mask a was resized with a smooth filter: in-between values that are valid classes (editable, fixable)."""
    masks = {"a": resized(blobs(120, 160, values=(40,), seed=3), 0.8),
             "b": resized(blobs(120, 160, values=(40,), seed=5), 0.8, 0)}
    root = make_dataset(tmp_path / "smeared", masks)
    write_project(root, 50)
    return root


def check(panel, qtbot, workers=1):
    panel.workers = workers
    with qtbot.waitSignal(panel.check_finished, timeout=TIMEOUT) as blocker:
        panel.check_button.click()
    assert blocker.args[0] is not None, panel.summary.text()
    return blocker.args[0]


def tree_counts(panel) -> dict[str, int]:
    tree = panel.tree
    return {tree.topLevelItem(i).text(0): int(tree.topLevelItem(i).text(1)) for i in range(tree.topLevelItemCount())}


def code_item(panel, code):
    tree = panel.tree
    return next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(0) == code)


def no_thread_left(panel):
    assert panel.job is None and panel.fix.job is None and not panel.busy_row.isVisible()
    assert not live_jobs()


@pytest.fixture(autouse=True)
def threads_joined():
    yield
    assert not live_jobs(), "a checker or fix thread was left running"


@pytest.fixture
def accept_fix(monkeypatch):
    """Answer the fix confirmation with "Apply fix"; the dialogs shown are kept to look at."""
    shown = []

    def open_(self):
        shown.append(self.rows())
        self.accept()

    monkeypatch.setattr(FixDialog, "open", open_)
    return shown


def test_check_lists_findings_by_code_with_counts(make_window, defective, qtbot):
    window = make_window(defective)
    panel = window.checker
    result = check(panel, qtbot, workers=2)  # the process pool, started from the worker thread
    assert tree_counts(panel) == {"binary-255": 1, "inconsistent-encoding": 1, "shape-mismatch": 1}
    item = code_item(panel, "binary-255")
    assert item.child(0).text(0).startswith("masks/bad255.png") and "0/255" in item.child(0).text(0)
    assert "3 errors" in panel.summary.text()
    stats = panel.stats.toPlainText()
    assert "background" in stats and "weight" in stats and "Inferred" in stats  # no fcnstudio.json
    s = window.session
    marked = {s.dataset.pairs[i].stem for i in range(len(s.dataset.pairs)) if s.pair_status(i).errors}
    assert marked == {"bad255", "shape"}
    assert {f.code for f in s.findings} == result.codes()
    no_thread_left(panel)


def test_f5_checks_and_is_listed_in_the_shortcuts(window, qtbot):
    assert ("F5", "Check dataset") in action_rows(window.actions())
    window.checker.workers = 1
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    with qtbot.waitSignal(window.checker.check_finished, timeout=TIMEOUT):
        QTest.keyClick(window.canvas, Qt.Key.Key_F5)
    assert "class-absent" in tree_counts(window.checker)
    no_thread_left(window.checker)


def test_the_result_is_remembered_per_dataset(make_window, defective, dataset, qtbot):
    window = make_window(defective)
    check(window.checker, qtbot)
    assert window.open_dataset(dataset)
    assert tree_counts(window.checker) == {} and "Not checked" in window.checker.summary.text()
    assert window.open_dataset(defective)
    assert "binary-255" in tree_counts(window.checker)
    assert any(window.session.pair_status(i).errors for i in range(len(window.session.dataset.pairs)))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """400 pairs (copies of two generated ones): a one-process check of it takes seconds, not milliseconds."""
    root = make_dataset(tmp_path_factory.mktemp("big") / "big", binary_masks(2, h=256, w=320))
    for kind in ("images", "masks"):
        for src in sorted((root / kind).iterdir()):
            for i in range(200):
                shutil.copyfile(src, src.with_name(f"{src.stem}_{i:03d}{src.suffix}"))
            src.unlink()
    return root


def test_cancel_stops_a_check_within_a_second(make_window, big, qtbot):
    window = make_window(big)
    panel = window.checker
    panel.workers = 1
    panel.check_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() >= 3, timeout=TIMEOUT)
    assert panel.busy_row.isVisible() and "of 400 pairs" in panel.summary.text()
    assert not panel.check_button.isEnabled()
    start = time.monotonic()
    with qtbot.waitSignal(panel.check_finished, timeout=5000) as blocker:
        panel.cancel_button.click()
    assert time.monotonic() - start < 1.0
    assert blocker.args[0] is None and "cancelled" in panel.summary.text()
    no_thread_left(panel)
    assert panel.check_button.isEnabled()


def test_closing_the_window_during_a_check_stops_it(make_window, big, qtbot):
    window = make_window(big)
    window.checker.workers = 1
    assert window.checker.start_check()
    qtbot.waitUntil(lambda: window.checker.progress.value() >= 1, timeout=TIMEOUT)
    start = time.monotonic()
    assert window.close()
    assert time.monotonic() - start < 1.0 and not live_jobs()


def test_a_code_without_automatic_fix_explains_what_to_do(window, no_modal_dialogs):
    assert not window.checker.request_fix("label-out-of-range")
    assert "Classes dock" in no_modal_dialogs[-1] and not live_jobs()


def test_double_click_opens_the_pair_and_centres_the_location(make_window, smeared, defective, qtbot):
    window = make_window(defective)
    check(window.checker, qtbot)
    item = code_item(window.checker, "shape-mismatch").child(0)
    tree = window.checker.tree
    tree.expandAll()
    tree.scrollToItem(item)
    pos = tree.visualItemRect(item).center()
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)  # a double-click starts with a press
    QTest.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert window.session.pair.stem == "shape"

    assert window.open_dataset(smeared, 1)
    check(window.checker, qtbot)
    item = code_item(window.checker, "interpolation-artifacts").child(0)
    finding = item.data(0, Qt.ItemDataRole.UserRole)[2]
    assert finding.location is not None
    window.canvas.zoom_to(4.0)
    window.checker.tree.itemDoubleClicked.emit(item, 0)
    assert window.session.pair.stem == "a"
    x, y = window.canvas.to_image(window.canvas.rect().center().toPointF())
    assert abs(x - finding.location[0] - 0.5) < 1 and abs(y - finding.location[1] - 0.5) < 1


def test_fix_binary_255_rewrites_backs_up_and_rechecks(make_window, defective, qtbot, accept_fix):
    window = make_window(defective)
    panel = window.checker
    check(panel, qtbot)
    panel.tree.setCurrentItem(code_item(panel, "binary-255"))
    assert panel.fix_button.isEnabled() and "binary-255" in panel.fix_button.text()
    with qtbot.waitSignal(panel.fix_finished, timeout=TIMEOUT) as blocker:
        panel.fix_button.click()
    report = blocker.args[0]
    assert report is not None and report.written == ("masks/bad255.png",)
    (rows,) = accept_fix
    assert rows[0][0] == "masks/bad255.png" and "of 5,120" in rows[0][1]  # files and pixel counts shown
    assert set(np.unique(read_mask_file(defective / "masks" / "bad255.png").array)) == {0, 1}
    (backup,) = (defective / ".fcnstudio" / "backup").iterdir()
    assert set(np.unique(read_mask_file(backup / "masks" / "bad255.png").array)) == {0, 255}
    codes = tree_counts(panel)
    assert "binary-255" not in codes and "inconsistent-encoding" not in codes and "shape-mismatch" in codes
    assert "binary-255" not in {f.code for f in window.session.findings}
    no_thread_left(panel)


def test_banner_fix_makes_a_read_only_mask_editable(make_window, defective, qtbot):
    write_project(defective, 2)
    window = make_window(defective)
    panel = window.checker
    panel.workers = 1
    assert window.show_pair("bad255")
    s = window.session
    assert s.read_only is not None and s.read_only.code == "binary-255" and not s.editable
    assert window.banner.fix_button.isVisible()
    window.banner.fix_button.click()  # not checked before: the plan checks first
    qtbot.waitUntil(lambda: panel.fix.dialog is not None and panel.fix.dialog.isVisible(), timeout=TIMEOUT)
    assert panel.fix.dialog.rows()[0][0] == "masks/bad255.png" and not panel.check_button.isEnabled()
    with qtbot.waitSignal(panel.fix_finished, timeout=TIMEOUT) as blocker:
        panel.fix.dialog.apply_button.click()  # the real dialog, as the user answers it
    assert blocker.args[0] is not None and panel.fix.dialog is None
    assert s.pair.stem == "bad255" and s.editable and s.read_only is None
    assert not window.banner.isVisible()
    assert "binary-255" not in tree_counts(panel)
    no_thread_left(panel)


def test_cancel_in_the_fix_dialog_changes_nothing(make_window, defective, qtbot):
    window = make_window(defective)
    panel = window.checker
    check(panel, qtbot)
    before = read_mask_file(defective / "masks" / "bad255.png").array
    assert panel.request_fix("binary-255")
    qtbot.waitUntil(lambda: panel.fix.dialog is not None and panel.fix.dialog.isVisible(), timeout=TIMEOUT)
    with qtbot.waitSignal(panel.fix_finished, timeout=TIMEOUT) as blocker:
        panel.fix.dialog.buttons.button(panel.fix.dialog.buttons.StandardButton.Cancel).click()
    assert blocker.args[0] is None and panel.fix.dialog is None and panel.check_button.isEnabled()
    np.testing.assert_array_equal(read_mask_file(defective / "masks" / "bad255.png").array, before)
    assert not (defective / ".fcnstudio").exists()


def test_unsaved_edits_of_a_mask_the_fix_rewrites_are_asked_about(make_window, smeared, qtbot, accept_fix, monkeypatch):
    window = make_window(smeared)
    s = window.session
    window.autosave_action.trigger()  # off: nothing is saved without asking
    check(window.checker, qtbot)
    assert s.pair.stem == "a" and s.editable
    window.tool_state.set(tool=Tool.BRUSH, current_class=7, brush_size=3)
    drag(window.canvas, [(5, 5), (15, 5)])
    assert s.dirty
    before = read_mask_file(smeared / "masks" / "a.png").array
    asked = []

    def answer(result):
        def box(parent, title, text, *args):
            asked.append(text)
            return result
        return box

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    with qtbot.waitSignal(window.checker.fix_finished, timeout=TIMEOUT) as blocker:
        window.checker.request_fix("interpolation-artifacts")
    assert blocker.args[0] is None and len(asked) == 1 and "unsaved edits" in asked[0]
    assert s.dirty and s.mask[5, 10] == 7  # the edits are still there
    np.testing.assert_array_equal(read_mask_file(smeared / "masks" / "a.png").array, before)

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    with qtbot.waitSignal(window.checker.fix_finished, timeout=TIMEOUT) as blocker:
        window.checker.request_fix("interpolation-artifacts")
    assert blocker.args[0] is not None and len(asked) == 2
    after = read_mask_file(smeared / "masks" / "a.png").array
    assert after[5, 10] == 7 and not s.dirty  # saved, then fixed: the painted pixels survived the fix
    assert s.mask[5, 10] == 7
    assert "interpolation-artifacts" not in tree_counts(window.checker)
    no_thread_left(window.checker)


def test_a_fix_drops_the_undo_history_of_the_other_masks_it_rewrites(make_window, smeared, qtbot, accept_fix):
    window = make_window(smeared)
    s = window.session
    check(window.checker, qtbot)
    assert s.pair.stem == "a" and s.editable
    window.tool_state.set(tool=Tool.BRUSH, current_class=7, brush_size=3)
    drag(window.canvas, [(5, 5), (15, 5)])
    window.step(1)                      # autosaved; the fix rewrites a while b is open
    assert s.pair.stem == "b" and read_mask_file(smeared / "masks" / "a.png").array[5, 10] == 7
    with qtbot.waitSignal(window.checker.fix_finished, timeout=TIMEOUT) as blocker:
        window.checker.request_fix("interpolation-artifacts")
    assert blocker.args[0] is not None and "masks/a.png" in blocker.args[0].written
    window.step(-1)
    assert s.pair.stem == "a"
    fixed = read_mask_file(smeared / "masks" / "a.png").array
    window.undo_action.trigger()        # no stale patch is replayed onto the fixed mask
    np.testing.assert_array_equal(s.mask, fixed)
    assert not s.dirty
    no_thread_left(window.checker)


def test_the_fix_dialog_lists_files_and_pixels(qtbot, defective):
    from fcnstudio.core.fixes import plan_fix

    plan = plan_fix(checks.check_dataset(defective, workers=1), "binary-255")
    dialog = FixDialog(plan)
    qtbot.addWidget(dialog)
    (row,) = dialog.rows()
    changed = plan.files[0].changed
    assert row[0] == "masks/bad255.png" and f"{changed:,} of 5,120" in row[1] and "255 → 1" in row[2]
    assert dialog.backup and dialog.apply_button is not None and "1 mask(s)" in dialog.summary.text()
