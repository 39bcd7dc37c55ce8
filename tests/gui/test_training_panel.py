"""The Training dock in the real window: a live run, pause/stop, the collapse banner, pre-flight, Predict."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from test_worker import tiny, toy_dataset

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget

from fcnstudio.core import edits
from fcnstudio.gui.training_panel import TrainingPanel
from fcnstudio.gui.training_settings import DEFAULTS, MAX_LR, TrainingSettings
from fcnstudio.gui.worker import Worker
from fcnstudio.train.events import Suggestion, WarningEvent

pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def no_thread_left(monkeypatch):
    """Closing with a job running answers "Stop and close"; after the test no worker thread runs."""
    monkeypatch.setattr(TrainingPanel, "ask_stop", lambda self: True)
    started = []
    real = Worker.start
    monkeypatch.setattr(Worker, "start", lambda self: (started.append(self), real(self)))
    yield started
    for w in started:
        w.stop()
    assert all(w.wait(10000) for w in started), "a worker thread is still running"


@pytest.fixture
def win(make_window, tmp_path):
    w = make_window(toy_dataset(tmp_path / "ds", unlabelled=1))
    w.training.overrides = tiny(max_steps=100000, eval_every_steps=3)
    return w


def wait_finished(qtbot, panel, timeout=3000):
    if panel.worker is not None:
        with qtbot.waitSignal(panel.busy_changed, timeout=timeout):
            pass
    assert not panel.busy


def test_the_defaults_mirror_train_config():
    from fcnstudio.train import config
    from fcnstudio.train.config import TrainConfig
    from fcnstudio.train.config import LOSS_NAMES
    from fcnstudio.gui.training_settings import LOSSES

    cfg = TrainConfig()
    assert {k: getattr(cfg, k) for k in DEFAULTS} == DEFAULTS
    assert MAX_LR == config.MAX_LR
    assert set(LOSSES) == set(LOSS_NAMES)
    assert TrainingSettings().to_config() == DEFAULTS


def test_a_run_shows_the_loss_previews_and_table_then_stops_within_a_second(win, qtbot):
    panel = win.training
    assert panel.start()
    qtbot.waitUntil(lambda: panel.plot.point_count >= 5, timeout=60000)
    qtbot.waitUntil(lambda: len(panel.grid.previews) > 0 and not panel.grid.tiles[0][3].pixmap().isNull(), timeout=30000)
    assert panel.grid.class_box.count() == 3
    assert not panel.grid.tiles[0][2].pixmap().isNull()
    assert panel.table.item(1, 1).text() not in ("", "—")
    setup = panel.controls.setup  # one line on what the run uses
    assert setup.isVisible() and "input 1x" in setup.text() and "1 thread" in setup.text()
    assert ("bf16" in setup.text()) or ("float32" in setup.text())
    assert "Input scale" in setup.toolTip() and "Precision" in setup.toolTip()  # the reasons
    n = panel.plot.point_count
    qtbot.waitUntil(lambda: panel.plot.point_count > n, timeout=5000)  # the curve keeps growing
    stem = panel.grid.previews[0].stem
    qtbot.mouseClick(panel.grid.tiles[0][2], Qt.MouseButton.LeftButton)  # opens that pair in the editor
    assert win.session.pair.stem == stem
    assert panel.progress.value() >= 0 and "ETA" in panel.progress.format()
    t = time.monotonic()
    with qtbot.waitSignal(panel.busy_changed, timeout=3000):
        panel.stop_button.click()
    assert time.monotonic() - t < 1.0
    assert panel.last_done is not None and panel.last_done.stopped
    assert panel.start_button.isEnabled()


def test_pause_holds_the_run_and_resume_continues(win, qtbot):
    panel = win.training
    panel.start()
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 3, timeout=60000)
    panel.pause_button.click()
    assert panel.pause_button.text() == "Resume"
    # the trainer says so once the step in flight has ended and its loop is held
    qtbot.waitUntil(lambda: panel.status.text().startswith("Paused at step"), timeout=5000)
    held = len(panel.plot.steps)
    qtbot.wait(600)  # not a wait for something: a stretch of time paused, in which no step may arrive
    assert len(panel.plot.steps) == held
    panel.pause_button.click()
    qtbot.waitUntil(lambda: len(panel.plot.steps) > held, timeout=2000)
    t = time.monotonic()
    panel.stop()
    wait_finished(qtbot, panel)
    assert time.monotonic() - t < 1.0


def collapse_event(step=10):
    return WarningEvent(step=step, code="collapse-background", severity="warning",
                        message="Output collapsed to background: dot predicted on 0% vs 0.6%.",
                        diagnosis="dot is 0.6% of the labels; plain cross-entropy rewards predicting background.",
                        suggestions=(Suggestion("Switch the loss to Dice + CE", {"loss": "dice+ce"}),
                                     Suggestion("Lower the learning rate to 3e-4", {"lr": 3e-4})),
                        classes=(2,))


def recovery_event(step=30):
    return WarningEvent(step=step, code="collapse-recovered", severity="info", message="dot back", classes=(2,),
                        clears="collapse-background")


def test_the_collapse_banner_button_switches_the_loss_and_restarts(win, qtbot):
    panel = win.training
    panel.settings_form.load_dict({"loss": "ce"})
    panel.start()
    first = panel.worker
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 2, timeout=60000)
    first.warned.emit(collapse_event())  # as the monitor would say it, through the worker's signal
    qtbot.waitUntil(lambda: panel.banner.isVisible(), timeout=2000)
    assert "only background" in panel.banner.headline.text()
    assert "cross-entropy" in panel.banner.diagnosis.text()
    assert [b.text() for b in panel.banner.buttons] == ["Switch the loss to Dice + CE", "Lower the learning rate to 3e-4"]
    assert panel.history.count() == 1
    panel.redraw()
    panel.banner.buttons[0].click()
    qtbot.waitUntil(lambda: panel.worker is not None and panel.worker is not first, timeout=5000)
    assert not first.running
    assert panel.config()["loss"] == "dice+ce" and not panel.banner.isVisible()
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 2, timeout=60000)
    # a recovery clears the banner; the episode stays in the history
    panel.worker.warned.emit(collapse_event(20))
    qtbot.waitUntil(lambda: panel.banner.isVisible(), timeout=2000)
    panel.worker.noted.emit(recovery_event())
    qtbot.waitUntil(lambda: not panel.banner.isVisible(), timeout=2000)
    texts = [panel.history.item(i).text() for i in range(panel.history.count())]
    assert any("recovered" in t for t in texts) and sum("collapse-background —" in t for t in texts) == 2
    panel.stop()
    wait_finished(qtbot, panel)


def test_the_window_stays_responsive_during_a_run(win, qtbot):
    panel = win.training
    panel.start()
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 1, timeout=60000)
    from PyQt6.QtCore import QTimer

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) > 1 and ticks[-1] - ticks[0] >= 1.5, timeout=10000)  # 1.5 s of ticks
    timer.stop()
    assert len(ticks) >= 50, len(ticks)
    assert max(np.diff(ticks)) < 0.5
    panel.stop()
    wait_finished(qtbot, panel)


def test_a_preflight_error_shows_the_finding_instead_of_starting(make_window, tmp_path, qtbot):
    w = make_window(toy_dataset(tmp_path / "bin", binary_255=True))
    panel = w.training
    panel.overrides = tiny()
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    assert panel.banner.isVisible() and panel.banner.code == "preflight"
    assert "binary-255" in panel.banner.message.text()
    labels = [b.text() for b in panel.banner.buttons]
    assert "Fix binary-255…" in labels and "Open the label checker" in labels
    assert not panel.plot.steps and panel.last_done is None
    asked = []
    w.request_fix = asked.append
    panel.banner.buttons[labels.index("Fix binary-255…")].click()
    assert asked == ["binary-255"]


def test_predict_puts_the_mask_in_the_editor_as_one_undo_step(win, qtbot):
    panel, s = win.training, win.session
    panel.overrides = tiny(max_steps=6, eval_every_steps=3)
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    assert panel.last_done is not None and panel.last_done.best_checkpoint
    h, w = s.mask.shape
    s.apply(edits.polygon, [(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)], value=2)  # all "dot"
    before = s.mask.copy()
    assert (before == 2).all()
    predict = panel.predict
    assert predict.predict_current()
    qtbot.waitUntil(lambda: not predict.busy, timeout=30000)
    after = s.mask.copy()
    assert not np.array_equal(after, before) and s.dirty
    win.undo()  # Ctrl+Z
    assert np.array_equal(s.mask, before)
    win.redo()
    assert np.array_equal(s.mask, after)


def test_predict_all_unlabelled_writes_palette_masks(win, qtbot):
    from fcnstudio.core.io import read_mask_file

    panel, s = win.training, win.session
    panel.overrides = tiny(max_steps=4, eval_every_steps=2)
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    missing = [p for p in s.dataset.pairs if p.mask is None]
    assert len(missing) == 1
    assert panel.predict.predict_unlabelled()
    qtbot.waitUntil(lambda: not panel.predict.busy, timeout=30000)
    assert all(p.mask is not None for p in s.dataset.pairs)
    written = s.dataset.root / "masks" / f"{missing[0].stem}.png"
    mf = read_mask_file(written)
    assert mf.array.ndim == 2 and mf.palette is not None


def test_closing_during_a_run_stops_it_saves_and_joins(make_window, tmp_path, qtbot, monkeypatch):
    w = make_window(toy_dataset(tmp_path / "ds"))
    panel = w.training
    panel.overrides = tiny(max_steps=100000, eval_every_steps=1000)
    panel.start()
    worker = panel.worker
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 2, timeout=60000)
    monkeypatch.setattr(TrainingPanel, "ask_stop", lambda self: False)  # Cancel
    w.close()
    assert w.isVisible() and worker.running
    monkeypatch.setattr(TrainingPanel, "ask_stop", lambda self: True)  # Stop and close
    w.close()
    assert not w.isVisible() and not worker.running
    runs = list((tmp_path / "ds" / ".fcnstudio" / "runs").glob("*/last.pt"))
    assert runs, "the stopped run kept no last.pt"


def test_cancelling_the_unsaved_edits_question_on_close_leaves_training_running(make_window, tmp_path, qtbot,
                                                                               monkeypatch):
    from fcnstudio.core import edits
    from fcnstudio.core.session import ASK_CANCEL, ASK_DISCARD
    from fcnstudio.gui.main_window import MainWindow

    w = make_window(toy_dataset(tmp_path / "ds"))
    panel = w.training
    panel.overrides = tiny(max_steps=100000, eval_every_steps=1000)
    panel.start()
    worker = panel.worker
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 2, timeout=60000)
    w.session.apply(edits.brush, (5.0, 5.0), (20.0, 5.0), radius=3, value=1)
    asked = []
    monkeypatch.setattr(MainWindow, "ask", lambda self, msg, can_save: asked.append(msg) or ASK_CANCEL)
    w.close()                                  # Stop and close, then Cancel on the unsaved edits
    assert asked and w.isVisible() and worker.running and w.session.dirty
    monkeypatch.setattr(MainWindow, "ask", lambda self, msg, can_save: ASK_DISCARD)
    w.close()
    assert not w.isVisible() and not worker.running


def test_an_absurd_lr_shows_diverging_and_its_button_restarts_with_a_sane_lr(win, qtbot):
    panel = win.training
    panel.overrides = {k: v for k, v in panel.overrides.items() if k != "lr"}  # the form's lr is used
    panel.settings_form.lr.setText("1000")
    panel.start()
    first = panel.worker
    history = lambda: [panel.history.item(i).text() for i in range(panel.history.count())]  # noqa: E731
    qtbot.waitUntil(lambda: any("loss-diverging" in t for t in history()), timeout=60000)
    # the banner shows it, or the collapse that followed it, with the lr first either way
    assert panel.banner.isVisible() and panel.banner.code in ("loss-diverging", "collapse-background")
    button = panel.banner.buttons[0]
    assert button.text() == "Lower the learning rate to 0.001"
    button.click()
    qtbot.waitUntil(lambda: panel.worker is not None and panel.worker is not first, timeout=5000)
    assert panel.config()["lr"] == 0.001 and panel.settings_form.lr.text() in ("0.001", "1e-03", "1e-3")
    assert not panel.banner.isVisible()
    panel.stop()
    wait_finished(qtbot, panel)


def test_a_diverging_warning_comes_back_when_the_collapse_it_caused_clears(win, qtbot):
    panel = win.training
    panel.start()
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 1, timeout=60000)
    diverging = WarningEvent(step=4, code="loss-diverging", severity="warning", message="The training loss blew up.",
                             suggestions=(Suggestion("Lower the learning rate to 0.001", {"lr": 1e-3}),))
    panel.worker.warned.emit(diverging)
    panel.worker.warned.emit(collapse_event(20))
    qtbot.waitUntil(lambda: panel.banner.code == "collapse-background", timeout=2000)
    panel.worker.noted.emit(recovery_event())
    qtbot.waitUntil(lambda: panel.banner.code == "loss-diverging", timeout=2000)
    assert panel.banner.isVisible() and "blew up" in panel.banner.message.text()
    # hidden by the user, it stays hidden when the next collapse comes and goes
    panel.banner.close_button.click()
    panel.worker.warned.emit(collapse_event(40))
    qtbot.waitUntil(lambda: panel.banner.code == "collapse-background", timeout=2000)
    panel.worker.noted.emit(recovery_event(50))
    qtbot.waitUntil(lambda: not panel.banner.isVisible(), timeout=2000)
    panel.stop()
    wait_finished(qtbot, panel)


def test_the_settings_are_remembered(win, qtbot):
    panel = win.training
    panel.settings_form.load_dict({"loss": "focal", "lr": 3e-4, "max_minutes": 2.5, "width": 8})
    panel.overrides = tiny(max_steps=2)
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    again = TrainingSettings(win.settings.store)
    cfg = again.to_config()
    assert cfg["loss"] == "focal" and cfg["lr"] == 3e-4 and cfg["max_minutes"] == 2.5 and cfg["width"] == 8
    assert cfg["max_steps"] is None


def test_overfit_one_batch_runs_in_the_worker_and_shows_its_verdict(win, qtbot):
    panel = win.training
    panel.overrides = tiny()
    assert panel.run_sanity("overfit")
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    wait_finished(qtbot, panel, timeout=120000)
    assert "batch" in panel.sanity.verdict.text() and "steps" in panel.sanity.verdict.text()


def test_the_lr_range_test_suggestion_sets_the_learning_rate(win, qtbot):
    panel = win.training
    panel.overrides = {k: v for k, v in tiny().items() if k != "lr"}
    assert panel.run_sanity("lr")
    wait_finished(qtbot, panel, timeout=120000)
    lr = panel.sanity.suggested_lr
    if lr is None:  # the sweep found no fall on this toy set: nothing to offer
        assert not panel.sanity.use_lr_button.isVisibleTo(panel)
        return
    panel.sanity.use_lr_button.click()
    assert panel.config()["lr"] == pytest.approx(lr)


def test_open_the_label_checker_raises_its_dock(win, qtbot):
    panel = win.training
    dock = next(d for d in win.findChildren(QDockWidget) if d.objectName() == "checker_dock")
    dock.hide()
    panel.apply_action({"open_checker": True})
    assert dock.isVisible()
    qtbot.waitUntil(lambda: not win.checker.busy, timeout=30000)


def test_training_reuses_the_checker_docks_result_until_a_mask_changes(make_window, tmp_path, qtbot):
    """The pre-flight writes .fcnstudio/check_cache.json whenever it runs the checker: a current dock check spares it."""
    root = toy_dataset(tmp_path / "ds")
    w = make_window(root)
    panel = w.training
    panel.overrides = tiny(max_steps=2)
    with qtbot.waitSignal(w.checker.check_finished, timeout=60000):
        assert w.checker.start_check()
    assert w.checker.results.get(root) is not None
    cache = root / ".fcnstudio" / "check_cache.json"
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    assert panel.last_done is not None and not panel.last_done.stopped
    assert not cache.exists()  # the dock's check was used: no new check ran
    mask = root / "masks" / "p0.png"
    data = mask.read_bytes()
    mask.write_bytes(data)  # same pixels, a new modification time: the check is no longer current
    st = mask.stat()
    os.utime(mask, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    panel.start()
    wait_finished(qtbot, panel, timeout=60000)
    assert panel.last_done is not None and cache.exists()  # the pre-flight checked again
