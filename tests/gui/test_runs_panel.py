"""The Runs dock in the real window: overlay, Predict's checkpoint, delete, train again, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_worker import NAMES, tiny, toy_dataset

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for run_folders.py

from run_folders import make_run  # noqa: E402

pytest.importorskip("torch")


@pytest.fixture
def win(make_window, tmp_path):
    w = make_window(toy_dataset(tmp_path / "ds"))
    w.training.overrides = tiny(max_steps=100000, eval_every_steps=3)
    return w


def runs_of(win) -> Path:
    return Path(win.session.dataset.root) / ".fcnstudio" / "runs"


def select(panel, *names):
    panel.table.clearSelection()
    sel = panel.table.selectionModel()
    for i, run in enumerate(panel.runs):
        if run.name in names:
            sel.select(panel.table.model().index(i, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)


def real_run(win, qtbot, **kw) -> Path:
    """A real training run from the Training dock; its folder."""
    panel = win.training
    panel.overrides = tiny(**kw)
    before = set(runs_of(win).glob("*")) if runs_of(win).exists() else set()
    with qtbot.waitSignal(panel.busy_changed, timeout=60000, check_params_cb=lambda b: b is False):
        assert panel.start()
    (new,) = set(runs_of(win).glob("*")) - before
    return new


def test_two_selected_runs_overlay_two_loss_curves_with_a_legend(win, qtbot):
    make_run(runs_of(win), "20260101-000001", lr=1e-3, classes=NAMES)
    make_run(runs_of(win), "20260101-000002", lr=3e-3, warning="loss-plateau", classes=NAMES)
    (runs_of(win) / "scratch").mkdir()
    panel = win.runs
    panel.refresh()
    assert panel.table.rowCount() == 2 and "scratch" in panel.note.text()
    assert panel.table.item(0, 2).text() == "finished" and "loss-plateau" in panel.table.item(0, 8).text()
    select(panel, "20260101-000001", "20260101-000002")
    loss_names, iou_names = panel.plot.curve_names()
    assert sorted(loss_names) == ["20260101-000001", "20260101-000002"]
    assert len(panel.plot.loss_plot.plotItem.listDataItems()) == 2
    assert iou_names == [*loss_names, *NAMES]  # the runs' colours, then the classes' line styles
    assert len(panel.plot.iou_plot.plotItem.listDataItems()) == 2 * len(NAMES)
    pens = {item.opts["pen"].color().name() for item in panel.plot.loss_plot.plotItem.listDataItems()}
    assert len(pens) == 2  # each run its own colour
    select(panel, "20260101-000002")
    assert panel.plot.curve_names()[0] == ["20260101-000002"]


def test_the_chosen_checkpoint_is_the_one_predict_uses_and_the_status_bar_says_so(win, qtbot):
    first = real_run(win, qtbot, max_steps=3, eval_every_steps=3)
    second = real_run(win, qtbot, max_steps=3, eval_every_steps=3)
    assert first.name != second.name and (first / "best.pt").is_file()
    panel = win.runs
    panel.refresh()
    select(panel, first.name)
    assert panel.choose_checkpoint()
    assert win.training.predict.checkpoint == first / "best.pt"
    label = panel.wiring.label.text()
    assert f"{first.name}/best.pt" in label
    predict = win.training.predict
    assert predict.predict_current()
    assert f"with {first.name}/best.pt" in win.statusBar().currentMessage()  # not the newer run
    qtbot.waitUntil(lambda: not predict.busy, timeout=30000)
    stored = json.loads(win.settings.store.value("runs/checkpoints"))
    assert stored[str(win.session.dataset.root)] == str(first / "best.pt")


def test_delete_asks_then_removes_only_that_folder_and_refuses_a_running_run(win, qtbot, monkeypatch):
    runs = runs_of(win)
    for name in ("a", "b"):
        make_run(runs, name, classes=NAMES)
    make_run(runs, "live", end=None, classes=NAMES)  # no last event, just written: running
    (win.session.dataset.root / "keep.txt").write_text("mine")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    panel = win.runs
    panel.refresh()
    select(panel, "live")
    assert not panel.delete_selected() and (runs / "live").is_dir() and not asked
    assert "running" in win.statusBar().currentMessage()
    select(panel, "a")
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert len(asked) == 1 and "a" in asked[0]
    assert not (runs / "a").exists() and (runs / "b" / "events.jsonl").is_file() and (runs / "live").is_dir()
    assert (win.session.dataset.root / "keep.txt").read_text() == "mine"
    assert [r.name for r in panel.runs] == ["live", "b"]


def test_delete_cancelled_keeps_the_run(win, qtbot, monkeypatch):
    make_run(runs_of(win), "a", classes=NAMES)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    panel = win.runs
    panel.refresh()
    select(panel, "a")
    assert not panel.delete_selected() and (runs_of(win) / "a").is_dir()


def test_train_again_copies_the_settings_into_the_training_form(win, qtbot):
    make_run(runs_of(win), "old", lr=0.02, loss="ce", steps=20, classes=NAMES)
    panel = win.runs
    panel.refresh()
    select(panel, "old")
    qtbot.mouseClick(panel.buttons["again"], Qt.MouseButton.LeftButton)
    form = win.training.settings_form.to_config()
    assert form["lr"] == 0.02 and form["loss"] == "ce" and form["batch_size"] == 4 and form["crop_size"] == 64
    assert form["max_steps"] == 20


def test_resume_continues_a_stopped_run_from_its_last_pt(win, qtbot):
    panel, runs = win.training, win.runs
    assert panel.start()
    qtbot.waitUntil(lambda: any(runs_of(win).glob("*/last.pt")), timeout=60000)
    with qtbot.waitSignal(panel.busy_changed, timeout=30000):
        panel.stop()
    (stopped,) = runs_of(win).iterdir()
    runs.refresh()
    assert runs.runs[0].state == "stopped"
    select(runs, stopped.name)
    assert runs.buttons["resume"].isEnabled()
    qtbot.mouseClick(runs.buttons["resume"], Qt.MouseButton.LeftButton)
    assert panel.training
    qtbot.waitUntil(lambda: len(list(runs_of(win).glob("*/config.json"))) == 2, timeout=60000)
    with qtbot.waitSignal(panel.busy_changed, timeout=30000):
        panel.stop()
    (new,) = set(runs_of(win).iterdir()) - {stopped}
    info = json.loads((new / "config.json").read_text())
    assert info["resumed_from"] == str(stopped / "last.pt") and info["start_step"] > 0
    runs.refresh()
    assert {r.name for r in runs.runs} == {stopped.name, new.name}
