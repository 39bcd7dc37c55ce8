"""The Runs dock: every run of the open dataset, their curves overlaid, and what can be done with a run.

The table lists :func:`fcnstudio.core.runs.list_runs` (runs of the window and
of the CLI alike); selecting rows overlays their curves (:class:`~.runs_plot.RunsPlot`).
The buttons act on the selection: *Use for Predict* (``checkpoint_chosen``),
*Resume* a stopped run (``resume_requested``), *Train again with these*
(``train_again_requested``: the run's settings), *Open folder*, *Delete* (asks
first; refused while the run is running; only that run's folder goes).
Keys (in the table): Delete deletes, Enter overlays the selection, Ctrl+R refreshes.
The window wires the signals (:mod:`.runs_menu`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from PyQt6.QtCore import QUrl, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QDesktopServices, QIcon, QKeySequence, QPixmap, QShortcut
from PyQt6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
                             QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from fcnstudio.core.runs import RunSummary, list_runs, read_curves, runs_dir
from fcnstudio.gui.runs_plot import RunsPlot, run_color

__all__ = ["COLUMNS", "RunsPanel"]

COLUMNS = ("Run", "Started", "State", "Loss", "Settings", "Steps", "Best IoU", "Rare-class IoU", "Warnings")
_SHORT = {"batch_size": "batch", "crop_size": "crop", "max_steps": "steps", "max_minutes": "min",
          "class_weights": "weights", "input_scale": "scale"}


def _iou(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "—"


def _settings_text(run: RunSummary) -> str:
    return ", ".join(str(v) if k == "arch" else f"{_SHORT.get(k, k)} {v:g}" if isinstance(v, float)
                     else f"{_SHORT.get(k, k)} {v}" for k, v in run.settings.items() if k != "loss")


class RunsPanel(QWidget):
    checkpoint_chosen = pyqtSignal(object)  # Path of the chosen checkpoint
    resume_requested = pyqtSignal(object)  # RunSummary
    train_again_requested = pyqtSignal(dict)  # the run's settings (TrainConfig fields)
    message = pyqtSignal(str)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runs_panel")
        self.session = session
        self.runs: list[RunSummary] = []
        self.notes: list[str] = []
        self.chosen: Path | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self.overlay)
        self.plot = RunsPlot()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.buttons = {}
        row = QHBoxLayout()
        for key, text, tip, slot in (
            ("refresh", "Refresh", "List the runs again (Ctrl+R)", self.refresh),
            ("predict", "Use for Predict", "Predict with this run's best.pt (else last.pt)", self.choose_checkpoint),
            ("resume", "Resume", "Continue this stopped run from its last.pt, with its settings", self.resume),
            ("again", "Train again with these", "Copy this run's settings into the Training settings",
             self.train_again),
            ("open", "Open folder", "Show the run folder in the file manager", self.open_folder),
            ("delete", "Delete…", "Delete this run's folder (asks first; Delete key)", self.delete_selected),
        ):
            b = self.buttons[key] = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            row.addWidget(b)
        row.addStretch(1)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(self.plot)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(self.split)
        self.layout().setContentsMargins(2, 2, 2, 2)
        for keys, slot in (((QKeySequence.StandardKey.Delete,), self.delete_selected),
                           (("Return", "Enter"), self.overlay), (("Ctrl+R",), self.refresh)):
            for k in keys:
                sc = QShortcut(QKeySequence(k), self.table, slot)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._update_buttons()

    # ------------------------------------------------------------------ listing

    @property
    def root(self) -> Path | None:
        ds = self.session.dataset
        return Path(ds.root) if ds is not None else None

    def refresh(self) -> None:
        """List the runs again, keeping the selection (by name)."""
        keep = {r.name for r in self.selected()}
        listing = list_runs(self.root) if self.root is not None else None
        self.runs = listing.runs if listing else []
        self.notes = listing.notes if listing else []
        self.table.blockSignals(True)
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(self.runs))
        for i, run in enumerate(self.runs):
            self._fill_row(i, run)
        self.table.resizeColumnsToContents()  # once: a ResizeToContents header re-measures on every item
        self.table.setUpdatesEnabled(True)
        self._select_names(keep)
        self.table.blockSignals(False)
        self.note.setText(" ".join(self.notes) if self.notes else
                          ("No runs yet: train from the Training dock or with fcnstudio train." if not self.runs
                           else f"{len(self.runs)} run(s) in {runs_dir(self.root)}"))
        self.overlay()

    def select_runs(self, names) -> None:
        """Select the runs named ``names`` (those listed) and overlay their curves."""
        self.table.blockSignals(True)
        self._select_names(set(names))
        self.table.blockSignals(False)
        self.overlay()

    def _select_names(self, names: set) -> None:
        self.table.clearSelection()
        for i, run in enumerate(self.runs):
            if run.name in names:
                self._add_row(i)

    def _add_row(self, i: int) -> None:
        sel = self.table.selectionModel()
        sel.select(self.table.model().index(i, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)

    def _fill_row(self, i: int, run: RunSummary) -> None:
        rare = f"{_iou(run.rare_iou)} ({run.rare_class})" if run.rare_class else "—"
        warn = ", ".join(code for code, _ in run.warnings)
        texts = (run.name, run.started.replace("T", " "), run.state, run.loss, _settings_text(run), str(run.steps),
                 _iou(run.best_mean_iou), rare, warn)
        for c, text in enumerate(texts):
            item = QTableWidgetItem(text)
            if c == 0 and self.chosen is not None and self.chosen.parent == run.path:
                item.setText(f"{text}  ★ {self.chosen.name}")
                item.setToolTip("Predict uses this run's " + self.chosen.name)
            if c == len(texts) - 1 and run.warnings:
                item.setToolTip("\n".join(f"{code}: {msg}" for code, msg in run.warnings))
            self.table.setItem(i, c, item)

    def selected(self) -> list[RunSummary]:
        rows = sorted({ix.row() for ix in self.table.selectionModel().selectedRows()})
        return [self.runs[r] for r in rows if r < len(self.runs)]

    def overlay(self) -> None:
        """Draw the selected runs' curves, each in its colour (a swatch by its name in the table)."""
        runs = self.selected()
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            if item is not None:
                item.setIcon(QIcon())
        for n, run in enumerate(runs):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(*run_color(n)))
            self.table.item(self.runs.index(run), 0).setIcon(QIcon(swatch))
        if runs:
            self.table.resizeColumnToContents(0)  # room for the swatch
        self.plot.show_runs([(r.name, read_curves(r.path), r.classes) for r in runs])
        self._update_buttons()

    def _update_buttons(self) -> None:
        sel = self.selected()
        one = sel[0] if len(sel) == 1 else None
        self.buttons["predict"].setEnabled(one is not None and self._checkpoint_of(one) is not None)
        self.buttons["resume"].setEnabled(one is not None and one.state in ("stopped", "failed")
                                          and one.checkpoint("last.pt") is not None)
        self.buttons["again"].setEnabled(one is not None and bool(one.config))
        self.buttons["open"].setEnabled(one is not None)
        self.buttons["delete"].setEnabled(bool(sel))

    # ------------------------------------------------------------------ actions

    def _one(self) -> RunSummary | None:
        sel = self.selected()
        if len(sel) != 1:
            self.message.emit("Select one run first")
            return None
        return sel[0]

    @staticmethod
    def _checkpoint_of(run: RunSummary) -> Path | None:
        return run.checkpoint("best.pt") or run.checkpoint("last.pt")

    def set_chosen(self, path: Path | None) -> None:
        """Mark ``path`` as Predict's checkpoint in the table (the window remembers it)."""
        self.chosen = Path(path) if path else None
        for i, run in enumerate(self.runs):
            self._fill_row(i, run)
        self.overlay()

    def choose_checkpoint(self) -> bool:
        run = self._one()
        ckpt = self._checkpoint_of(run) if run is not None else None
        if ckpt is None:
            if run is not None:
                self.message.emit(f"{run.name} has no checkpoint yet")
            return False
        self.set_chosen(ckpt)
        self.checkpoint_chosen.emit(ckpt)
        return True

    def resume(self) -> bool:
        run = self._one()
        if run is None:
            return False
        if run.state not in ("stopped", "failed") or run.checkpoint("last.pt") is None:
            self.message.emit(f"{run.name} cannot be resumed: it is {run.state}"
                              + ("" if run.checkpoint("last.pt") else " and has no last.pt"))
            return False
        self.resume_requested.emit(run)
        return True

    def train_again(self) -> bool:
        run = self._one()
        if run is None or not run.config:
            return False
        self.train_again_requested.emit(dict(run.config))
        self.message.emit(f"The settings of {run.name} are in the Training settings; press Start")
        return True

    def open_folder(self) -> bool:
        run = self._one()
        return run is not None and QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def delete_selected(self) -> bool:
        """Delete the selected runs' folders after asking; running ones are refused."""
        sel = self.selected()
        if not sel:
            return False
        running = [r.name for r in sel if r.state == "running"]
        if running:
            self.message.emit(f"{', '.join(running)} is running; stop it before deleting")
            return False
        names = "\n".join(r.name for r in sel)
        answer = QMessageBox.question(self, "Delete runs", f"Delete these run folders and their checkpoints?\n\n"
                                      f"{names}\n\nThis cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        errors = [e for e in (self._delete(r) for r in sel) if e]
        if self.chosen is not None and not self.chosen.exists():
            self.set_chosen(None)
            self.checkpoint_chosen.emit(None)
        self.table.clearSelection()
        self.refresh()
        self.message.emit("Not deleted: " + "; ".join(errors) if errors else f"Deleted {len(sel)} run(s)")
        return not errors

    def _delete(self, run: RunSummary) -> str:
        base = runs_dir(self.root).resolve() if self.root is not None else None
        path = run.path.resolve()
        if base is None or run.path.is_symlink() or path.parent != base:
            return f"{run.name}: not a folder of {base}"
        try:
            shutil.rmtree(path)
        except OSError as exc:
            return f"{run.name}: {exc.strerror or exc}"
        return ""
