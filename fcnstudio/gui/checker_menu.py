"""Put the Checker dock into the main window: the dock, the banner's Fix…, Check dataset (F5) in a Check menu."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QMenu

from fcnstudio.gui.check_jobs import CheckResults
from fcnstudio.gui.checker_panel import SHORTCUT, CheckerPanel

__all__ = ["install_checker"]


def install_checker(window) -> CheckerPanel:
    """Put the checker dock in ``window``, route the banner's Fix… to it, add Check dataset (F5) to a menu."""
    panel = CheckerPanel(window.session, CheckResults(), show_pair=window.show_pair, ask=window.ask,
                         status=window.show_status)
    window.add_dock(panel, "Checker", Qt.DockWidgetArea.RightDockWidgetArea, "checker_dock")
    window.fix_handler = panel.request_fix
    window.installEventFilter(panel)
    panel.check_action = action = QAction("&Check dataset", window)
    action.setShortcut(QKeySequence(SHORTCUT))
    action.setStatusTip("Check every image and mask for label problems")
    action.triggered.connect(panel.start_check)
    window.addAction(action)  # listed by Help → Shortcuts, which reads the window's actions
    bar = window.menuBar()
    menu = QMenu("&Check", bar)
    help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_menu is not None:
        bar.insertMenu(help_menu, menu)
    else:
        bar.addMenu(menu)
    menu.addAction(action)
    menu.addAction("C&ancel check", panel.cancel)
    menu.addAction("&Fix selected finding…", panel.fix_selected)
    return panel
