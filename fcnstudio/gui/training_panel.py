"""The Training dock: settings, Start / Pause / Stop, and what the run shows live.

Left: the buttons, a progress bar with the ETA, and tabs for the settings,
the sanity tools (Overfit one batch, LR range test) and the run's warnings.
Middle: the loss curve over the per-class table. Right: the preview grid. A
banner across the top says when the output collapses (or the label check
refused the start) with one button per fix; a button changes the setting and
restarts the run.

The panel only turns intents into a :class:`~.worker.Worker` and events into
widgets. Events are stored as they come and drawn at most every
:data:`REDRAW_MS` (superqt's ``qthrottled``). The settings go to QSettings when a run starts;
a dataset whose fcnstudio.json has a ``training`` section starts from it.
Closing the window while a job runs asks first, then stops it (the trainer
writes last.pt) and joins its thread.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import QApplication, QMessageBox, QSplitter, QVBoxLayout, QWidget

from fcnstudio.gui.app import observe
from fcnstudio.gui.collapse_banner import CollapseBanner
from fcnstudio.gui.run_view import RunView
from fcnstudio.gui.status_text import clock_text
from fcnstudio.gui.throttle import LazyThrottle
from fcnstudio.gui.training_controls import TrainingControls
from fcnstudio.gui.worker import Refusal, Worker, sanity_worker, training_worker

__all__ = ["TrainingPanel"]

REDRAW_MS = 250
COLLAPSE_CODES = ("collapse-background", "collapse-single-class", "class-never-predicted")


class TrainingPanel(QWidget):
    busy_changed = pyqtSignal(bool)

    def __init__(self, session, settings, window=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.session, self.window_ = session, window
        #: TrainConfig fields merged over the form's (tests and benchmarks: tiny networks)
        self.overrides: dict = {}
        self._once: dict = {}  # fields of the next start only (start_with: resume a run)
        self.worker: Worker | None = None
        self.last_done = None
        self._restart = False
        self._pending_eval = None
        self._plot_skipped = False
        self._last_step = None
        self._warned: dict[str, set] = {}
        self._loss_warning = None  # the run's loss-diverging warning, until the user hides it

        self.banner = CollapseBanner()
        self.banner.action_requested.connect(self.apply_action)
        self.banner.dismissed.connect(lambda code: setattr(self, "_loss_warning", None))
        self.controls = TrainingControls(settings.store)
        c = self.controls
        self.settings_form, self.sanity, self.history, self.tabs = c.settings_form, c.sanity, c.history, c.tabs
        self.start_button, self.pause_button, self.stop_button = c.start_button, c.pause_button, c.stop_button
        self.progress, self.status = c.progress, c.status
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.sanity.run_requested.connect(self.run_sanity)
        self.sanity.lr_chosen.connect(self._use_lr)
        self.view = RunView()
        self.plot, self.table, self.grid = self.view.plot, self.view.table, self.view.grid
        self.grid.open_requested.connect(self.open_pair)
        self._layout()

        #: events are drawn at most every REDRAW_MS (the first at once, the last when the interval ends)
        self._redraw_soon = LazyThrottle(self.redraw, REDRAW_MS, self)
        observe(self, [(session.dataset_changed, self._on_dataset), (session.project_changed, self._on_project)])
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_dataset()
        self._update_buttons()

    def _layout(self) -> None:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.controls)
        split.addWidget(self.view)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 5)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        return self.worker is not None

    @property
    def training(self) -> bool:
        return self.worker is not None and self.worker.kind == "training"

    def _update_buttons(self) -> None:
        has_data = self.session.dataset is not None
        self.start_button.setEnabled(has_data and not self.busy)
        self.pause_button.setEnabled(self.training)
        self.pause_button.setText("Resume" if self.training and self.worker.paused else "Pause")
        self.stop_button.setEnabled(self.busy)
        self.sanity.set_enabled(has_data and not self.busy)
        self.settings_form.setEnabled(not self.busy)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_dataset(self) -> None:
        p = self.session.project
        if p is not None:
            self._classes(p)
            if p.training:
                self.settings_form.load_dict(p.training)
        self._update_buttons()

    def _on_project(self) -> None:
        if self.session.project is not None and not self.busy:
            self._classes(self.session.project)

    def _classes(self, project) -> None:
        self.view.set_classes(project.class_names, project.colors)

    # ------------------------------------------------------------------ starting and stopping

    def config(self) -> dict:
        """The TrainConfig fields of the next run: the form, then :attr:`overrides`."""
        return {**self.settings_form.to_config(), **self.overrides, **self._once}

    def start_with(self, fields: dict) -> bool:
        """:meth:`start` with ``fields`` over :meth:`config` for this run only (the Runs dock's Resume)."""
        self._once = dict(fields)
        try:
            return self.start()
        finally:
            self._once = {}

    def start(self) -> bool:
        """Start a training run on the open dataset (the pre-flight check runs first, in the thread)."""
        s = self.session
        if self.busy or s.dataset is None:
            return False
        self.settings_form.save()
        project = s.project if s.project is not None and not s.project.inferred else None
        checker = getattr(self.window(), "checker", None)  # the Checker dock: its last check, if still current
        last = checker.results.get(s.dataset.root) if checker is not None else None
        worker = training_worker(str(s.dataset.root), self.config(), project, self, check=last)
        self.view.clear()
        if s.project is not None:
            self._classes(s.project)
        self.banner.clear()
        self._loss_warning = None
        self._warned.clear()
        self._pending_eval = self._last_step = self.last_done = None
        self.progress.setRange(0, 0)  # busy until the first step says how far
        self.progress.setFormat("")
        note = " (unsaved edits of the current image are not in it)" if s.dirty else ""
        self._set_status("Checking the labels and reading the images…" + note)
        worker.step.connect(self._on_step)
        worker.evaluated.connect(self._on_eval)
        worker.warned.connect(self._on_warning)
        worker.noted.connect(self._on_note)
        worker.done.connect(self._on_done)
        self._run(worker)
        return True

    def _run(self, worker: Worker) -> None:
        worker.failed.connect(self._on_failed)
        worker.refused.connect(self._on_refused)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        self._update_buttons()
        self.busy_changed.emit(True)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self._set_status("Stopping…")

    def toggle_pause(self) -> None:
        (self.resume if self.training and self.worker.paused else self.pause)()

    def pause(self) -> None:
        if self.training:
            self.worker.pause()
            self._set_status("Pausing after this step…")
            self._update_buttons()

    def resume(self) -> None:
        if self.training:
            self.worker.resume()
            self._set_status("Resuming…")
            self._update_buttons()

    def restart(self) -> None:
        """Start again with the current settings (after the running job has stopped)."""
        if self.busy:
            self._restart = True
            self.stop()
        else:
            self.start()

    def _on_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self._redraw_soon.cancel()
        self.redraw()
        self.plot.refresh(force=True)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self._update_buttons()
        self.busy_changed.emit(False)
        if self._restart:
            self._restart = False
            self.start()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Stop the running job and join its thread (True when no thread is left; None: no time limit)."""
        self._restart = False
        worker = self.worker
        if worker is None:
            return True
        worker.stop()
        return worker.wait(timeout_ms)

    def ask_stop(self) -> bool:
        """Closing while a job runs: Stop and close / Cancel."""
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "Training is still running. Stop it and close? The weights so far are saved "
                          "(last.pt in the run folder).", QMessageBox.StandardButton.Cancel, self.window())
        stop = box.addButton("Stop and close", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is stop

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Close or obj is not self.window_:
            return False
        if self.busy:
            if not self.ask_stop():
                event.ignore()
                return True
            # the unsaved-edits question before the stop: a Cancel there must leave training running
            session = getattr(self.window_, "session", None)
            ask = getattr(self.window_, "ask", None)
            if session is not None and not session.resolve_unsaved(ask, autosave=False):
                event.ignore()
                return True
            self._set_status("Stopping…")
            self.shutdown()
        predict = getattr(self, "predict", None)
        if predict is not None:
            predict.shutdown()
        return False

    # ------------------------------------------------------------------ events (GUI thread)

    def _on_step(self, ev) -> None:
        self.plot.add_step(ev.step, ev.loss)
        self._last_step = ev
        self._redraw_soon()

    def _on_eval(self, ev) -> None:
        self.plot.add_eval(ev.step, ev.val_loss)
        self._pending_eval = ev
        self._redraw_soon()

    def _on_warning(self, ev) -> None:
        self.banner.show_warning(ev)
        if ev.code == "loss-diverging":
            self._loss_warning = ev  # stays true when a collapse it caused comes and goes
        if ev.code in COLLAPSE_CODES:
            self._warned[ev.code] = set(ev.classes)
        self.history.insertItem(0, f"step {ev.step}: {ev.code} — {ev.message}")

    def _on_note(self, ev) -> None:
        clears = getattr(ev, "clears", "")
        if clears:
            self.banner.clear(clears)
            if not self.banner.showing and self._loss_warning is not None:
                self.banner.show_warning(self._loss_warning)
            self._warned.pop(clears, None)
            self.history.insertItem(0, f"step {ev.step}: recovered ({clears} ended) — {ev.message}")
        elif ev.code == "setup":  # a short line, then why (the tooltip)
            line, _, why = ev.message.partition("\n")
            self.controls.setup.setText(line)
            self.controls.setup.setToolTip(why or line)
            self.controls.setup.show()
        elif ev.code in ("paused", "resumed", "check", "scan", "data", "device", "lr", "loss"):
            self._set_status(ev.message[:1].upper() + ev.message[1:] + ".")
        self._redraw_soon()  # the progress bar says "paused" / drops it

    def _on_done(self, ev) -> None:
        self.last_done = ev
        iou = f", best foreground IoU {ev.best_mean_iou:.2f}" if math.isfinite(ev.best_mean_iou) else ""
        where = f" Saved in {self._run_name(ev)}." if ev.last_checkpoint else ""
        self._set_status((f"Stopped at step {ev.steps}" if ev.stopped else f"Finished: {ev.steps} steps")
                         + iou + "." + where)
        if not ev.stopped:
            self.progress.setValue(1000)
            self.progress.setFormat("100% — done")
        else:
            self.progress.setFormat(f"stopped at step {ev.steps}")

    @staticmethod
    def _run_name(ev) -> str:
        """``.fcnstudio/runs/<run>`` (the run folder, relative to the dataset)."""
        from pathlib import Path

        run = Path(ev.last_checkpoint).parent
        return f"{run.parent.parent.name}/{run.parent.name}/{run.name}"

    def _on_failed(self, ev) -> None:
        self.banner.show_problem("error", "Training stopped with an error.", ev.message, level="error")
        self._set_status("Failed: " + ev.message.splitlines()[0])

    def _on_refused(self, r: Refusal) -> None:
        self.banner.show_refusal(r.message, r.findings)
        n = len(r.findings)
        self._set_status(f"Not started: {n} label error(s), see above." if n else
                         "Not started: " + r.message.splitlines()[0])

    def redraw(self) -> None:
        """Draw what came in since the last tick (:attr:`_redraw_soon` calls this at most every REDRAW_MS).

        A tick that draws an evaluation (table and previews) leaves the loss curve to the next one,
        so that no tick holds the GUI thread for both.
        """
        ev, self._pending_eval = self._pending_eval, None
        if ev is not None:
            warned = set().union(*self._warned.values()) if self._warned else set()
            self.view.show_eval(ev, warned)
        if ev is None or self._plot_skipped:
            self.plot.refresh()
        self._plot_skipped = ev is not None and not self._plot_skipped
        st = self._last_step
        if st is not None and self.training:
            paused = " — paused" if self.worker.paused else ""
            if st.eta_s is not None:
                frac = st.elapsed_s / max(st.elapsed_s + st.eta_s, 1e-9)
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * min(1.0, frac)))
                self.progress.setFormat(f"{100 * frac:.0f}% — ETA {clock_text(st.eta_s)}{paused}")
            if not self.worker.paused and self.status.text() != "Stopping…":
                self._set_status(f"Step {st.step} (epoch {st.epoch}), loss {st.loss:.4g}, "
                                 f"{st.images_per_s:.1f} images/s, lr {st.lr:.2g}, {clock_text(st.elapsed_s)} elapsed")

    # ------------------------------------------------------------------ suggestions

    def apply_action(self, action: dict) -> None:
        """A banner button: change the setting and restart, open the checker, or fix the labels."""
        if action.get("open_checker"):
            self.open_checker()
        if "fix" in action and self.window_ is not None:
            self.banner.clear()
            self.window_.request_fix(action["fix"])
        changed = self.settings_form.apply_action(action)
        if changed:
            self.banner.clear()
            self.history.insertItem(0, "applied: " + ", ".join(f"{k} = {v}" for k, v in action.items()
                                                               if k in ("loss", "lr", "class_weights")))
            self.restart()

    def open_checker(self) -> bool:
        """The banner's "open the checker": the window shows its Checker dock and checks again."""
        return self.window_ is not None and self.window_.show_checker()

    def open_pair(self, stem: str) -> None:
        if self.window_ is not None:
            self.window_.show_pair(stem)

    # ------------------------------------------------------------------ sanity tools

    def run_sanity(self, which: str) -> bool:
        s = self.session
        if self.busy or s.dataset is None:
            return False
        project = s.project if s.project is not None and not s.project.inferred else None
        worker = sanity_worker(which, str(s.dataset.root), self.config(), project, self)
        worker.progress.connect(self._on_sanity_progress)
        worker.result.connect(self._on_sanity_result)
        self.tabs.setCurrentIndex(1)
        self.progress.setRange(0, 0)
        self._set_status(self.sanity.show_running(which))
        self._run(worker)
        return True

    def _on_sanity_progress(self, done: int, total: int, loss: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v/%m — loss {loss:.3g}")

    def _on_sanity_result(self, res) -> None:
        self.sanity.show_result(res)
        self._set_status(res.verdict.split(". ")[0] + ".")

    def _use_lr(self, lr: float) -> None:
        self.settings_form.apply_action({"lr": lr})
        self._set_status(f"Learning rate set to {lr:.2g}; press Start.")
