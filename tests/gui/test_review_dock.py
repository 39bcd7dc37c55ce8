"""The Review dock in the real window, on reviews made by real tiny reviews: the list, a region opened and
zoomed to with the prediction layer, accept (one undo step, nothing written), dismiss (remembered), the trust
gate, a review started from the dock (a Job; Cancel leaves no folder), and Train again."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for run_folders.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))  # for review_data.py

from review_data import frames  # noqa: E402
from run_folders import make_run  # noqa: E402

from fcnstudio.core.io import read_mask, write_mask  # noqa: E402
from fcnstudio.core.review import ALL_REGIONS, box_iou, list_reviews, read_dismissals, read_probs, region_pixels, reviews_dir  # noqa: E402,E501
from fcnstudio.gui.app import Settings  # noqa: E402
from fcnstudio.gui.jobs import Job, live_jobs  # noqa: E402
from fcnstudio.gui.review_settings import ReviewSettings  # noqa: E402
from fcnstudio.gui.shortcuts_dialog import action_rows  # noqa: E402
from fcnstudio.train.config import TrainConfig  # noqa: E402
from fcnstudio.train.review import run_review  # noqa: E402

torch.set_num_threads(1)

#: the fold models' settings: a plain U-Net (at 64 px the residual U-Net's stride-4 stem leaves too little for a
#: 120-step fold model; see tests/train/test_review.py); the window's review takes them from the Training dock
FOLD = dict(arch="unet", width=8, depth=2, crop_size=48, batch_size=8, num_threads=1, eval_every_steps=40,
            eval_every_s=60.0, warmup_steps=10, max_previews=0)


def _review(root, steps, **cfg):
    return run_review(root, folds=2, minutes_per_fold=None, steps_per_fold=steps, config=TrainConfig(**{**FOLD, **cfg}))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A dataset whose frames s02 and s07 (one in each fold) have their square unlabelled, and a real, trusted
    review of it: (root, the stem listed first, its square's box)."""
    root, boxes = frames(tmp_path_factory.mktemp("reviewed") / "ds", planted=7)
    s02 = read_mask(root / "masks" / "s02.png")
    write_mask(root / "masks" / "s02.png", np.where(s02 == 2, 0, s02).astype(np.uint8))
    out = _review(root, 120)
    top = out.review.images[0].stem
    assert out.review.trusted and top in ("s02", "s07"), out.review.reason
    assert {im.stem for im in out.review.images if im.regions} >= {"s02", "s07"}
    return root, top, boxes[top]


@pytest.fixture
def data(reviewed, tmp_path):
    """A copy of the reviewed dataset (its review folder with it), for one test to change."""
    root, top, box = reviewed
    return shutil.copytree(root, tmp_path / "ds"), top, box


def active(w, qtbot):
    """``w`` as the active window, so that its keys reach its actions."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)
    w.canvas.setFocus()
    return w


@pytest.fixture
def win(make_window, data, qtbot):
    w = make_window(data[0])
    w.training.overrides = dict(FOLD)
    return active(w, qtbot)


def top_region(win):
    return win.review.controller.queue.items()[0]


def pick(win, item):
    """Click the region's row in the dock's list."""
    lst = win.review.list
    row = lst._items[item.key]
    lst.scrollToItem(row)
    rect = lst.visualItemRect(row)
    QTest.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.review.controller.current.key == item.key


def test_the_dock_opens_the_newest_review_and_lists_images_then_every_region_by_score(win, data):
    panel, c = win.review, win.review.controller
    (folder,) = list_reviews(data[0])
    assert c.queue.name == folder.name and panel.reviews.currentText() == folder.name
    tops = [panel.list.topLevelItem(i) for i in range(panel.list.topLevelItemCount())]
    scores = [float(t.text(0)) for t in tops]
    assert scores == sorted(scores, reverse=True) and tops[0].text(1) == data[1]
    assert tops[0].child(0).text(2) == "missed: background → square"  # the kind and both class names
    assert f"of {len(c.queue.items())} region(s) left" in panel.left.text()
    panel.one_queue.click()  # every region of the dataset in one queue
    assert c.queue.order == ALL_REGIONS and panel.list.topLevelItem(0).childCount() == 0
    flat = [panel.list.topLevelItem(i) for i in range(panel.list.topLevelItemCount())]
    assert len(flat) == len(c.queue.items())
    scores = [float(t.text(0)) for t in flat]
    assert scores == sorted(scores, reverse=True)
    older = shutil.copytree(folder, folder.parent / "20000101-000000")  # an older review: pick it
    c.on_dataset()
    assert [panel.reviews.itemText(i) for i in range(panel.reviews.count())] == [folder.name, older.name]
    panel.reviews.activated.emit(1)
    assert c.queue.name == older.name


def test_a_region_opens_its_pair_zoomed_to_it_with_the_prediction_in_a_layer_that_toggles(win, data):
    _, top, square = data
    assert win.session.pair.stem == "s00"
    item = top_region(win)
    pick(win, item)
    assert win.session.pair.stem == top
    x, y, w, h = item.region.box
    canvas = win.canvas
    tl, br = canvas.to_widget(x, y), canvas.to_widget(x + w, y + h)
    assert canvas.rect().contains(tl.toPoint()) and canvas.rect().contains(br.toPoint())
    centre = canvas.to_widget(x + w / 2, y + h / 2).toPoint()
    layer = win.review.controller.layer
    assert layer.shown and layer.buf[y + h // 2, x + w // 2] != 0  # the disagreement is drawn there
    on = canvas.grab().toImage().pixel(centre)
    QTest.keyClick(canvas, Qt.Key.Key_M)  # hide the model's prediction
    assert not layer.visible and canvas.grab().toImage().pixel(centre) != on
    QTest.keyClick(canvas, Qt.Key.Key_M)
    assert layer.visible and canvas.grab().toImage().pixel(centre) == on
    assert "missed" in win.review.details.text() and "square" in win.review.details.text()
    QTest.keyClick(canvas, Qt.Key.Key_PageDown)  # another image: not reviewing there, no layer
    assert win.session.pair.stem == f"s{int(top[1:]) + 1:02d}" and not layer.shown


def test_accept_paints_exactly_the_region_in_one_undo_step_and_writes_nothing(win, data):
    root, top, square = data
    item = top_region(win)
    pick(win, item)
    mask_file = root / "masks" / f"{top}.png"
    on_disk = mask_file.read_bytes()
    before = win.session.mask.copy()
    probs = read_probs(win.review.controller.queue.folder / item.image.probs).probs
    thresholds = win.review.controller.queue.thresholds(item.image.fold)
    left = win.review.controller.queue.left
    QTest.keyClick(win.canvas, Qt.Key.Key_A)
    after = win.session.mask
    changed = after != before
    assert np.array_equal(changed, region_pixels(probs, before, thresholds, item.region))
    assert changed.any() and (after[changed] == 2).all() and (before[changed] == 0).all()
    ys, xs = np.nonzero(changed)
    x, y, w, h = item.region.box
    assert xs.min() >= x and xs.max() < x + w and ys.min() >= y and ys.max() < y + h
    assert box_iou((xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1), square) > 0.5
    assert win.session.dirty and mask_file.read_bytes() == on_disk  # unsaved, as after a brush stroke
    assert win.session.pair_status(int(top[1:])).unsaved and win.windowTitle().endswith(" *")
    row = win.review.list._items[item.key]
    assert win.review.controller.queue.left == left - 1 and row.text(2).startswith("✓ ")
    k = row.parent().childCount()
    assert row.parent().text(2) == f"{k - 1} of {k} region(s) left"
    QTest.keyClick(win.canvas, "z", Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(win.session.mask, before) and not win.session.can_undo  # one step, undone
    assert not win.session.dirty and mask_file.read_bytes() == on_disk


def test_dismiss_removes_the_region_and_a_new_window_on_the_dataset_still_hides_it(win, data, make_window):
    root, top, _ = data
    c = win.review.controller
    first, second = c.queue.items()[:2]
    pick(win, first)
    n = len(c.queue.items())
    QTest.keyClick(win.canvas, Qt.Key.Key_D)
    assert c.queue.find(first.key) is None and first.key not in win.review.list._items
    assert len(c.queue.items()) == c.queue.left == n - 1 and f"{n - 1}</b> of {n - 1}" in win.review.left.text()
    assert c.current is not None and c.current.key == second.key  # the next region took its place
    assert [d.mask for d in read_dismissals(root)] == [first.image.mask]
    c.open_review(c.queue.folder)  # the review read again
    assert c.queue.find(first.key) is None
    other = make_window(root)  # a fresh window, a fresh dock
    assert other.review.controller.queue.find(first.key) is None
    assert other.review.controller.queue.find(second.key) is not None


def test_the_review_keys_are_in_the_shortcuts_dialog(win):
    rows = action_rows(win.actions())
    for keys, name in (("A", "Accept the model's region"), ("D", "Dismiss the region"), (".", "Next region"),
                       (",", "Previous region"), ("M", "Show the model's prediction")):
        assert (keys, name) in rows
    assert any(name == "Find label errors" and "R" in keys for keys, name in rows)


def test_next_and_previous_walk_the_queue_across_images(win, data):
    top = data[1]
    c = win.review.controller
    items = c.queue.items()
    QTest.keyClick(win.canvas, Qt.Key.Key_Period)
    assert c.current.key == items[0].key
    QTest.keyClick(win.canvas, Qt.Key.Key_Period)
    assert c.current.key == items[1].key and win.session.pair.stem == items[1].image.stem
    QTest.keyClick(win.canvas, Qt.Key.Key_Comma)
    assert c.current.key == items[0].key and win.session.pair.stem == top


def test_an_untrusted_review_says_why_and_shows_no_ranking_unless_asked(make_window, tmp_path):
    root, _ = frames(tmp_path / "weak", n=6, planted=4)
    assert not _review(root, 2).review.trusted
    w = make_window(root)
    panel = w.review
    assert panel.gate.isVisible() and "too weak to find label errors" in panel.gate.text()
    assert "train longer" in panel.gate.text()
    assert not panel.list.isVisible() and not w.review.controller.actions["next"].isEnabled()
    panel.show_anyway.click()
    queue = w.review.controller.queue
    assert panel.list.isVisible() and panel.gate.isVisible() and panel.left.isVisible()
    assert "Not trusted" in panel.gate.text() and "train longer" not in panel.gate.text()  # one line: room
    assert "train longer" in panel.gate.toolTip()                                         # the reason on hover
    assert panel.list.height() >= 6 * panel.list.fontMetrics().height()
    assert len(panel.list._items) == len(queue.items())
    assert w.review.controller.actions["next"].isEnabled() == bool(queue.items())


def test_folds_whose_model_collapsed_are_named_with_their_images(make_window, tmp_path):
    root, _ = frames(tmp_path / "collapsing", n=6)
    review = _review(root, 40, loss="weighted-ce", class_weights=[1.0, 0.0, 0.0], lr=3e-2, eval_every_steps=3,
                     warmup_steps=1).review
    assert review.collapsed_folds == [1, 2]
    panel = make_window(root).review
    assert panel.notes.isVisible() and "Fold 1: the model collapsed" in panel.notes.text()
    assert "s00, s01, s02" in panel.notes.text() and "not ranked" in panel.notes.text()
    assert "no fold model can be used" in panel.gate.text()


def test_a_review_from_the_dock_is_a_job_whose_cancel_leaves_no_folder(make_window, tmp_path, qtbot):
    root, _ = frames(tmp_path / "fresh", n=6)
    w = make_window(root)
    w.training.overrides = dict(FOLD)
    panel, c = w.review, w.review.controller
    panel.settings.set_values(2, None, 400)
    qtbot.mouseClick(panel.buttons["find"], Qt.MouseButton.LeftButton)
    job = c.job
    assert isinstance(job, Job) and job in live_jobs() and not panel.buttons["find"].isEnabled()
    with qtbot.waitSignal(job.stage, timeout=60000, check_params_cb=lambda p: p.phase == "train"):
        pass
    assert "Fold 1 of 2: training" in panel.status.text() and panel.progress.isVisible()
    assert ReviewSettings(w.settings.store).values() == (2, None, 400)  # remembered
    with qtbot.waitSignal(job.finished, timeout=30000):
        qtbot.mouseClick(panel.buttons["cancel"], Qt.MouseButton.LeftButton)
    assert c.job is None and "cancelled" in panel.status.text() and panel.buttons["find"].isEnabled()
    assert not any(reviews_dir(root).iterdir())  # no half-written review folder


def test_a_review_from_the_menu_key_opens_when_it_ends(make_window, tmp_path, qtbot):
    root, _ = frames(tmp_path / "fresh", planted=7)
    w = active(make_window(root), qtbot)
    w.training.overrides = dict(FOLD)
    w.review.settings.set_values(2, None, 120)
    QTest.keyClick(w.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    job = w.review.controller.job
    with qtbot.waitSignal(job.finished, timeout=120000):
        pass
    (folder,) = list_reviews(root)
    c = w.review.controller
    assert c.queue.name == folder.name and c.queue.review.trusted
    assert c.queue.items()[0].image.stem == "s07" and w.review.list.isVisible()


def test_the_keys_work_before_the_review_dock_was_ever_shown(make_window, tmp_path, qtbot):
    """The dock's panel is built when first needed (the window starts without it): M and Ctrl+Shift+R pressed
    in a window whose Review dock was never shown hide the layer and start a review with the remembered
    settings, and the dock shows the review when it ends."""
    root, _ = frames(tmp_path / "fresh", planted=7)
    remembered = ReviewSettings(Settings().store)  # the test's own settings file (conftest)
    remembered.set_values(2, None, 120)
    remembered.save()
    remembered.store.sync()
    w = active(make_window(root), qtbot)
    w.training.overrides = dict(FOLD)
    QTest.keyClick(w.canvas, Qt.Key.Key_M)
    QTest.keyClick(w.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    c = w.review.controller
    assert c.job is not None and not c.layer.visible and w.review.settings.values() == (2, None, 120)
    with qtbot.waitSignal(c.job.finished, timeout=120000):
        pass
    (folder,) = list_reviews(root)
    assert c.queue.name == folder.name and c.queue.items()[0].image.stem == "s07" and w.review.isVisible()


def test_on_a_dataset_with_a_review_the_region_keys_work_though_the_dock_was_never_shown(make_window, data, qtbot):
    w = active(make_window(data[0]), qtbot)  # the Review dock stays tabbed behind the Checker dock
    QTest.keyClick(w.canvas, Qt.Key.Key_Period)
    assert w.session.pair.stem == data[1] and w.review.controller.current is not None


def test_a_review_that_ends_after_another_dataset_opened_is_not_shown_over_it(make_window, tmp_path, qtbot):
    first, _ = frames(tmp_path / "first", planted=7)
    second, _ = frames(tmp_path / "second", n=4)
    w = make_window(first)
    w.training.overrides = dict(FOLD)
    w.review.settings.set_values(2, None, 60)
    c = w.review.controller
    assert c.start()
    job = c.job
    assert w.open_dataset(second)
    with qtbot.waitSignal(job.finished, timeout=120000):
        pass
    assert len(list_reviews(first)) == 1 and c.queue is None and list_reviews(second) == []
    assert "open that dataset" in w.statusBar().currentMessage()


def test_an_error_is_a_message_in_the_dock(make_window, tmp_path, qtbot):
    root, _ = frames(tmp_path / "bin", n=4, binary_255=True)
    w = make_window(root)
    w.training.overrides = dict(FOLD)
    w.review.settings.set_values(2, None, 5)
    assert w.review.controller.start()
    with qtbot.waitSignal(w.review.controller.job.finished, timeout=60000):
        pass
    text = w.review.status.text()
    assert text.startswith("The review did not run:") and "binary-255" in text and "Traceback" not in text
    assert not reviews_dir(root).exists() or not any(reviews_dir(root).iterdir())


def test_deleting_the_dock_stops_a_running_review_and_joins_its_thread(make_window, tmp_path, qtbot):
    root, _ = frames(tmp_path / "fresh", n=6)
    w = make_window(root)
    w.training.overrides = dict(FOLD)
    w.review.settings.set_values(2, None, 100000)
    c = w.review.controller
    assert c.start()
    with qtbot.waitSignal(c.job.stage, timeout=60000, check_params_cb=lambda p: p.phase == "train"):
        pass
    dock = w.review.parentWidget()
    with qtbot.waitSignal(w.review.destroyed, timeout=10000):
        dock.deleteLater()
    assert live_jobs() == [] and not any(reviews_dir(root).iterdir())
    assert all(not isinstance(layer, type(c.layer)) for layer in w.canvas.layers)


def test_train_again_saves_the_fixes_trains_and_the_runs_dock_shows_before_and_after(win, data, qtbot):
    root, top, _ = data
    make_run(root / ".fcnstudio" / "runs", "20000101-000000", classes=["background", "disc", "square"])
    win.training.overrides = dict(FOLD, max_steps=3, eval_every_steps=3)
    pick(win, top_region(win))
    QTest.keyClick(win.canvas, Qt.Key.Key_A)
    on_disk = read_mask(root / "masks" / f"{top}.png")
    with qtbot.waitSignal(win.training.busy_changed, timeout=60000, check_params_cb=lambda b: b is False):
        qtbot.mouseClick(win.review.buttons["train_again"], Qt.MouseButton.LeftButton)
        assert win.training.training
    assert np.array_equal(read_mask(root / "masks" / f"{top}.png"), win.session.mask)  # saved before training
    assert not np.array_equal(on_disk, win.session.mask)
    names = {r.name for r in win.runs.selected()}
    assert "20000101-000000" in names and len(names) == 2
    assert win.runs.parentWidget().isVisible()
