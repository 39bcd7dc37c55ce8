"""The Training dock's left column: Start / Pause / Stop, the progress bar, the status line, the run's setup, the tabs.

The tabs are the run's settings (scrollable), the sanity tools and the
session's warnings. This widget only holds them; the panel connects the
buttons and fills the progress, status and warnings.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QProgressBar, QPushButton, QScrollArea, QTabWidget,
                             QVBoxLayout, QWidget)

from fcnstudio.gui.sanity_tools import SanityTools
from fcnstudio.gui.status_text import StatusText
from fcnstudio.gui.training_settings import TrainingSettings

__all__ = ["TrainingControls"]


class TrainingControls(QWidget):
    def __init__(self, store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings_form = TrainingSettings(store)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train on the dataset's labelled images in the background")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop; the weights so far are kept (last.pt, best.pt in the run folder)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = StatusText("Not started.")
        #: what the running (or last) run uses: network, input scale, crop, schedule, threads, precision
        self.setup = QLabel("")
        self.setup.setObjectName("training_setup")
        self.setup.setWordWrap(True)
        self.setup.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setup.setStyleSheet("font-size: small;")
        self.setup.hide()
        self.sanity = SanityTools()
        self.history = QListWidget()
        self.history.setWordWrap(True)
        self.history.setToolTip("Warnings of this session's runs; a recovered collapse stays listed")
        self._layout()

    def _layout(self) -> None:
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        self.tabs = QTabWidget()
        form = QScrollArea()
        form.setWidget(self.settings_form)
        form.setWidgetResizable(True)
        form.setFrameShape(QScrollArea.Shape.NoFrame)
        form.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.addTab(form, "Settings")
        self.tabs.addTab(self.sanity, "Sanity checks")
        self.tabs.addTab(self.history, "Warnings")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.setup)
        layout.addWidget(self.tabs, 1)
        self.setMinimumWidth(max(270, self.settings_form.minimumSizeHint().width() + 30))
