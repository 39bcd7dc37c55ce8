"""The "Sanity checks" tab: Overfit one batch and the LR range test, their verdicts, one-click learning rate.

The widget only asks (``run_requested("overfit" | "lr")``) and shows results
(:meth:`show_running`, :meth:`show_result`); the panel runs the tools in its
worker thread. "Use learning rate …" emits ``lr_chosen(lr)``.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from fcnstudio.gui.loss_plot import LRRangePlot

__all__ = ["SanityTools"]


class SanityTools(QWidget):
    run_requested = pyqtSignal(str)
    lr_chosen = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overfit_button = QPushButton("Overfit one batch")
        self.overfit_button.setToolTip("Can the network learn one batch? If not, the problem is the model, "
                                       "the loss or the labels, not the amount of data.")
        self.overfit_button.clicked.connect(lambda: self.run_requested.emit("overfit"))
        self.lr_button = QPushButton("LR range test")
        self.lr_button.setToolTip("Sweep the learning rate from 1e-6 to 1 and suggest one")
        self.lr_button.clicked.connect(lambda: self.run_requested.emit("lr"))
        self.verdict = QLabel("Each check trains a fresh network for a short while, with the values of the "
                              "Settings tab.")
        self.verdict.setWordWrap(True)
        self.use_lr_button = QPushButton()
        self.use_lr_button.setVisible(False)
        self.use_lr_button.clicked.connect(self._use_lr)
        self.plot = LRRangePlot()
        self.plot.setVisible(False)
        self.suggested_lr: float | None = None
        row = QHBoxLayout()
        row.addWidget(self.overfit_button)
        row.addWidget(self.lr_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.verdict)
        layout.addWidget(self.use_lr_button)
        layout.addWidget(self.plot, 1)
        layout.addStretch(0)

    def set_enabled(self, on: bool) -> None:
        self.overfit_button.setEnabled(on)
        self.lr_button.setEnabled(on)

    def show_running(self, which: str) -> str:
        text = "Overfitting one batch…" if which == "overfit" else "Sweeping the learning rate…"
        self.verdict.setText(text)
        return text

    def show_result(self, res) -> None:
        """An OverfitResult or LRRangeResult (fcnstudio.train.sanity)."""
        self.verdict.setText(res.verdict)
        if not hasattr(res, "suggested_lr"):
            return
        self.plot.setVisible(True)
        self.plot.show_result(res.lrs, res.losses, res.smoothed, res.suggested_lr)
        self.suggested_lr = res.suggested_lr
        self.use_lr_button.setVisible(res.suggested_lr is not None)
        if res.suggested_lr is not None:
            self.use_lr_button.setText(f"Use learning rate {res.suggested_lr:.2g}")

    def _use_lr(self) -> None:
        if self.suggested_lr is not None:
            self.lr_chosen.emit(float(self.suggested_lr))
