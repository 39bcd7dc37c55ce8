"""Put the Training dock into the main window: the dock, its close guard, the Training menu and Predict."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QApplication, QMenu

from fcnstudio.gui.predict_action import PredictActions
from fcnstudio.gui.training_panel import TrainingPanel

__all__ = ["install_training"]


def install_training(window) -> TrainingPanel:
    """Create the Training dock, its close guard and the Training menu (Start, Stop, Predict …) in ``window``."""
    panel = TrainingPanel(window.session, window.settings, window)
    dock = window.add_dock(panel, "Training", Qt.DockWidgetArea.BottomDockWidgetArea, "training_dock")
    if not getattr(window, "_state_restored", False):
        window.resizeDocks([dock], [360], Qt.Orientation.Vertical)  # the canvas keeps most of the height
    window.installEventFilter(panel)
    predict = PredictActions(window)
    panel.predict = predict
    bar = window.menuBar()
    menu = QMenu("&Training", bar)
    help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    bar.insertMenu(help_menu, menu) if help_menu is not None else bar.addMenu(menu)
    start = QAction("&Start training", window)
    start.setShortcut(QKeySequence("Ctrl+T"))
    start.triggered.connect(panel.start)
    window.addAction(start)
    menu.addAction(start)
    menu.addAction("&Pause / resume", panel.toggle_pause)
    menu.addAction("S&top", panel.stop)
    menu.addSeparator()
    menu.addAction(predict.predict_action)
    menu.addAction(predict.predict_all_action)
    menu.addSeparator()
    menu.addAction("&Overfit one batch", lambda: panel.run_sanity("overfit"))
    menu.addAction("&LR range test", lambda: panel.run_sanity("lr"))
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(predict.shutdown)
    return panel
