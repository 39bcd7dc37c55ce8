"""Put the Runs dock into the main window, and wire it to Predict, the Training dock and the status bar.

- *Use for Predict* sets ``PredictActions.checkpoint``; a permanent status-bar
  label says which checkpoint Predict uses; the choice is remembered per
  dataset in QSettings (``runs/checkpoints``, a JSON object dataset → file).
- *Resume* fills the Training settings with the run's and starts through the
  Training dock's start path with ``resume`` = the run's ``last.pt`` (a new
  run folder, whose config.json names the one it resumed).
- *Train again with these* fills the Training settings form.
- The list is read again when a dataset opens and when a run starts or ends
  in the window (and every :data:`POLL_MS` while one runs).
"""

from __future__ import annotations

import json
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QLabel

from fcnstudio.gui.app import observe
from fcnstudio.gui.runs_panel import RunsPanel

__all__ = ["install_runs"]

POLL_MS = 3000
KEY = "runs/checkpoints"
#: run settings that are not carried into a resumed run (the new run gets its own folder)
NOT_RESUMED = ("out_dir", "resume", "num_threads")


class _RunsWiring:
    def __init__(self, window, panel: RunsPanel, dock: QDockWidget) -> None:
        self.window, self.panel, self.dock = window, panel, dock
        self.training = window.training
        self.predict = getattr(self.training, "predict", None)
        self.label = QLabel()
        window.statusBar().addPermanentWidget(self.label)
        self.timer = QTimer(panel)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(panel.refresh)
        panel.checkpoint_chosen.connect(self.choose)
        panel.resume_requested.connect(self.resume)
        panel.train_again_requested.connect(self.train_again)
        panel.message.connect(lambda text: window.show_status(text, 8000))
        observe(panel, [(window.session.dataset_changed, self.on_dataset)])  # detached when the panel goes
        self.training.busy_changed.connect(self.on_busy)
        self.on_dataset()

    # ------------------------------------------------------------------ remembered choice

    def _choices(self) -> dict:
        try:
            d = json.loads(self.window.settings.store.value(KEY, "{}") or "{}")
        except (TypeError, ValueError):
            d = {}
        return d if isinstance(d, dict) else {}

    def _root(self) -> str | None:
        ds = self.window.session.dataset
        return str(ds.root) if ds is not None else None

    def on_dataset(self) -> None:
        root = self._root()
        saved = self._choices().get(root) if root else None
        path = Path(saved) if saved and Path(saved).is_file() else None
        self._set(path)
        self.panel.set_chosen(path)
        self.panel.refresh()

    def choose(self, path) -> None:
        root = self._root()
        if root is not None:
            d = self._choices()
            if path is None:
                d.pop(root, None)
            else:
                d[root] = str(path)
            self.window.settings.store.setValue(KEY, json.dumps(d))
        self._set(Path(path) if path else None)
        if path is not None:
            self.window.show_status(f"Predict uses {Path(path).parent.name}/{Path(path).name}", 8000)

    def _set(self, path: Path | None) -> None:
        if self.predict is not None:
            self.predict.checkpoint = path
        self.label.setText(f"  Predict: {path.parent.name}/{path.name}  " if path else "  Predict: newest best.pt  ")
        self.label.setToolTip(str(path) if path else "Predict uses the newest best.pt of the dataset's runs")

    # ------------------------------------------------------------------ training

    def on_busy(self, busy: bool) -> None:
        (self.timer.start if busy else self.timer.stop)()
        self.panel.refresh()

    def _show_training(self) -> None:
        dock = self.training.parentWidget()
        if isinstance(dock, QDockWidget):
            dock.show()
            dock.raise_()

    def train_again(self, config: dict) -> None:
        self.training.settings_form.load_dict(config)
        self._show_training()

    def resume(self, run) -> None:
        if self.training.busy:
            self.window.show_status("A training job is running; stop it before resuming another run", 8000)
            return
        fields = {k: v for k, v in run.config.items() if k not in NOT_RESUMED}
        self.training.settings_form.load_dict(fields)
        self._show_training()
        if self.training.start_with({**fields, "resume": str(run.path / "last.pt")}):
            self.window.show_status(f"Resuming {run.name} from its last.pt", 8000)


def install_runs(window) -> RunsPanel:
    """Create the Runs dock (tabbed with the Training dock) in ``window``; needs :attr:`window.training`."""
    panel = RunsPanel(window.session)
    dock = window.add_dock(panel, "Runs", Qt.DockWidgetArea.BottomDockWidgetArea, "runs_dock")
    training_dock = window.training.parentWidget()
    if not getattr(window, "_state_restored", False) and isinstance(training_dock, QDockWidget):
        window.tabifyDockWidget(training_dock, dock)
        training_dock.raise_()
    panel.wiring = _RunsWiring(window, panel, dock)
    return panel
