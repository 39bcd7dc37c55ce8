"""The main window: assembles the canvas, the tools, the pair list and the docks, and the menus.

It holds no data (that is the :class:`~fcnstudio.core.session.EditSession`)
and no painting logic (canvas, tools). What is here: which part goes where,
the actions and their shortcuts, and the few dialogs that need a window
(unsaved edits, errors, open folder).

Other panels (checker findings, training) plug in with :meth:`MainWindow.add_dock`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from fcnstudio.core.dataset import DatasetError
from fcnstudio.core.session import ASK_CANCEL, ASK_DISCARD, ASK_SAVE, EditSession, SessionError
from fcnstudio.gui.app import Settings, observe
from fcnstudio.gui.canvas import Canvas
from fcnstudio.gui.checker_menu import install_checker
from fcnstudio.gui.mask_banner import MaskBanner
from fcnstudio.gui.pair_list import PairList
from fcnstudio.gui.classes_panel import ClassesPanel
from fcnstudio.gui.recovery_dialog import install_recovery
from fcnstudio.gui.review_menu import install_review
from fcnstudio.gui.runs_menu import install_runs
from fcnstudio.gui.shortcuts_dialog import ShortcutsDialog
from fcnstudio.gui.tools import ToolBar, ToolController, ToolState
from fcnstudio.gui.training_menu import install_training

TITLE = "FCN Studio"
Area = Qt.DockWidgetArea


class MainWindow(QMainWindow):
    def __init__(self, session: EditSession | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.session = session or EditSession(autosave=self.settings.autosave)
        #: called with (finding code, session) by the read-only banner's "Fix…"; the checker panel may replace it
        self.fix_handler: Callable[[str, EditSession], None] | None = None
        self.setAcceptDrops(True)
        self.setObjectName("main_window")
        self.resize(1400, 900)

        self.tool_state = ToolState(self.settings.brush_size)
        self.controller = ToolController(self.session, self.tool_state)
        self.canvas = Canvas(self.session)
        self.canvas.set_opacity(self.settings.opacity)
        self.canvas.set_controller(self.controller)
        self.controller.repaint = self.canvas.update
        self.controller.scale = lambda: self.canvas.scale
        self.banner = MaskBanner(self.session)
        self.banner.fix_requested.connect(self.request_fix)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.toolbar = ToolBar(self.tool_state, self.controller, self.canvas, self.session, self)
        self.addToolBar(self.toolbar)
        self.pair_list = PairList(self.session)
        self.pair_list.pair_requested.connect(self.go_to)
        self.classes = ClassesPanel(self.session, self.tool_state)
        self.classes.visibility_changed.connect(self.canvas.set_class_visible)
        self.classes.message.connect(self.show_status)
        self.add_dock(self.pair_list, "Images", Area.LeftDockWidgetArea, "pairs_dock")
        self.add_dock(self.classes, "Classes", Area.RightDockWidgetArea, "classes_dock")

        self.cursor_label = QLabel()
        self.zoom_label = QLabel()
        self.statusBar().addPermanentWidget(self.cursor_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.zoom_changed.connect(lambda s: self.zoom_label.setText(f"  {s * 100:.0f}%  "))

        self._build_menus()
        self.checker = install_checker(self)  # the checker dock, F5, and the banner's Fix…
        self.training = install_training(self)  # the Training dock, its menu and Predict
        self.runs = install_runs(self)  # the Runs dock: past runs, their curves, Predict's checkpoint
        self.review_dock = install_review(self)  # the Review dock: find the masks that are wrong, fix them here
        self.recovery = install_recovery(self)  # journal of unsaved edits; offers them back after a crash
        self.tool_state.changed.connect(self._remember_tool)
        self.toolbar.opacity.valueChanged.connect(lambda v: setattr(self.settings, "opacity", v / 100.0))
        observe(self, [
            (self.session.dataset_changed, self._update_title),
            (self.session.status_changed, self._update_title),
            (self.session.pair_changed, self._on_pair_changed),
        ])
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._state_restored = state is not None and self.restoreState(state)
        self._update_title()

    @property
    def review(self):
        """The Review dock's panel (built the first time it is needed; see :class:`~.review_menu.ReviewDock`)."""
        return self.review_dock.panel

    # ------------------------------------------------------------------ assembly

    def add_dock(self, widget: QWidget, title: str, area=Area.RightDockWidgetArea, name: str | None = None) -> QDockWidget:
        """Put ``widget`` in a dock (a QDockWidget is used as it is); returns the dock.

        ``name`` (the objectName) lets the window remember where the user put
        it. Docks added after the window restored its layout are restored too.
        """
        dock = widget if isinstance(widget, QDockWidget) else QDockWidget(title, self)
        if dock is not widget:
            dock.setWidget(widget)
        dock.setObjectName(name or dock.objectName() or f"{title.lower().replace(' ', '_')}_dock")
        self.addDockWidget(area, dock)
        if getattr(self, "_state_restored", False):
            self.restoreDockWidget(dock)
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _action(self, menu, text: str, slot, shortcuts=(), *, checkable=False, tip=None) -> QAction:
        act = QAction(text, self, checkable=checkable)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self._action(m, "&Open dataset…", self.choose_dataset, [QKeySequence.StandardKey.Open])
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.save_action = self._action(m, "&Save mask", self.save, ["Ctrl+S"])
        self.autosave_action = self._action(m, "&Autosave when changing image", self._set_autosave, checkable=True,
                                            tip="Save edits when moving to another image instead of asking")
        self.autosave_action.setChecked(self.session.autosave)
        m.addSeparator()
        self._action(m, "&Quit", self.close, ["Ctrl+Q"])
        m = bar.addMenu("&Edit")
        self.undo_action = self._action(m, "&Undo", self.undo, ["Ctrl+Z"])
        self.redo_action = self._action(m, "&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        m.addSeparator()
        for act in (self.toolbar.preserve, self.toolbar.erase_ignore):
            m.addAction(act)
        self.view_menu = m = bar.addMenu("&View")
        self._action(m, "&Fit to window", self.canvas.fit, ["Ctrl+0"])
        self._action(m, "&Actual size (1:1)", self.canvas.actual_size, ["Ctrl+1"])
        self._action(m, "Zoom &in", lambda: self.canvas.zoom_by(1.25), ["Ctrl++", "Ctrl+="])
        self._action(m, "Zoom &out", lambda: self.canvas.zoom_by(0.8), ["Ctrl+-"])
        self._action(m, "Auto &contrast", self.canvas.auto_contrast, tip="16-bit and float images")
        m.addSeparator()
        m.addAction(self.toolbar.show_mask)
        m.addAction(self.toolbar.contours)
        m.addSeparator()
        m.addAction(self.toolbar.toggleViewAction())
        for dock in self.findChildren(QDockWidget):
            m.addAction(dock.toggleViewAction())
        m = bar.addMenu("&Go")
        self._action(m, "&Next image", lambda: self.step(1), ["PgDown", "N"])
        self._action(m, "&Previous image", lambda: self.step(-1), ["PgUp", "Shift+N"])
        m = bar.addMenu("&Help")
        self._action(m, "&Shortcuts…", self.show_shortcuts, ["F1"])
        self._action(m, "&About FCN Studio", self._about)
        self.addActions(self.toolbar.shortcut_actions())

    # ------------------------------------------------------------------ datasets

    def open_dataset(self, path, index: int | None = None) -> bool:
        """Open a dataset folder; a folder that is not one shows a message and changes nothing."""
        if not self.session.resolve_unsaved(self.ask):
            return False
        try:
            root = str(Path(path).expanduser().resolve())
            self.session.open(root, self.settings.last_index(root) if index is None else index)
        except (DatasetError, OSError) as exc:
            self.banner.show_message(f"Could not open {path}: {exc}", "error")
            self.show_status(f"Could not open {path}")
            return False
        self.settings.add_recent(str(self.session.dataset.root))
        if self.session.project is not None and self.session.project.notes:
            self.show_status(" ".join(self.session.project.notes), 10000)
        return True

    def choose_dataset(self) -> None:
        start = str(self.session.dataset.root.parent) if self.session.dataset else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", start)
        if folder:
            self.open_dataset(folder)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_dataset(p))
        if not self.settings.recent:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def dragEnterEvent(self, event) -> None:
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folder = self._dropped_folder(event.mimeData())
        if folder is not None:
            event.acceptProposedAction()
            self.open_dataset(folder)

    @staticmethod
    def _dropped_folder(mime) -> Path | None:
        for url in mime.urls() if mime.hasUrls() else ():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                return path if path.is_dir() else path.parent.parent
        return None

    # ------------------------------------------------------------------ pairs

    def go_to(self, index: int) -> bool:
        return self.session.go_to(index, self.ask)

    def step(self, delta: int) -> bool:
        return self.session.step(delta, self.ask)

    def show_checker(self) -> bool:
        """Show the Checker dock and, when it is idle, check the dataset again; False when there is none."""
        for dock in self.findChildren(QDockWidget):
            if "checker" in dock.objectName().lower():
                dock.show()
                dock.raise_()
                checker = getattr(self, "checker", None)
                if checker is not None and not checker.busy:
                    checker.start_check()
                return True
        self.show_status("The label checker is not available in this window")
        return False

    def show_pair(self, name: str, location: tuple[int, int] | None = None) -> bool:
        """Go to the pair whose stem or file (relative to the dataset, as in a Finding) is ``name``.

        ``location`` (x, y) is centred in the view. For the checker panel: a
        finding's ``path`` and ``location`` can be passed as they are.
        """
        ds = self.session.dataset
        if ds is None:
            return False
        for i, pair in enumerate(ds.pairs):
            if name == pair.stem or name in (ds.relative(pair.image), ds.relative(pair.mask)):
                if not self.go_to(i):
                    return False
                if location is not None:
                    self.canvas.center_on(location[0] + 0.5, location[1] + 0.5)
                return True
        return False

    def _on_pair_changed(self) -> None:
        s = self.session
        if s.dataset is not None and s.index >= 0:
            self.settings.set_last_index(str(s.dataset.root), s.index)
        self._update_title()

    def ask(self, message: str, can_save: bool) -> str:
        """Save / Discard / Cancel for unsaved edits (the session's ``ask`` callback)."""
        buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        if can_save:
            buttons |= QMessageBox.StandardButton.Save
        answer = QMessageBox.question(self, "Unsaved edits", message, buttons, QMessageBox.StandardButton.Cancel)
        return {QMessageBox.StandardButton.Save: ASK_SAVE, QMessageBox.StandardButton.Discard: ASK_DISCARD}.get(
            answer, ASK_CANCEL
        )

    # ------------------------------------------------------------------ editing

    def save(self) -> bool:
        try:
            path = self.session.save()
        except (SessionError, OSError) as exc:
            self.show_status(f"Not saved: {exc}", 10000)
            QMessageBox.warning(self, "Not saved", str(exc))
            return False
        self.show_status(f"Saved {path}" if path else "Nothing to save")
        return True

    def undo(self) -> None:
        self.controller.cancel()
        if self.session.undo() is None:
            self.show_status("Nothing to undo")

    def redo(self) -> None:
        if self.session.redo() is None:
            self.show_status("Nothing to redo")

    def request_fix(self, code: str) -> None:
        """The banner's "Fix…": the Checker dock plans, confirms and applies it (``fix_handler``)."""
        if self.fix_handler is not None:
            self.fix_handler(code, self.session)

    def _set_autosave(self, on: bool) -> None:
        self.session.autosave = self.settings.autosave = bool(on)

    def _remember_tool(self, names) -> None:
        if "brush_size" in names:
            self.settings.brush_size = self.tool_state.brush_size

    # ------------------------------------------------------------------ status

    def show_status(self, text: str, ms: int = 5000) -> None:
        self.statusBar().showMessage(text, ms)

    def report_error(self, text: str) -> None:
        self.show_status(text, 15000)

    def _show_cursor(self, x: int, y: int) -> None:
        info = self.session.describe(x, y) if x >= 0 else None
        if info is None:
            self.cursor_label.setText("")
            return
        value = info["value"]
        value = "" if value is None else f"  value {value if not isinstance(value, float) else f'{value:.4g}'}"
        stored = f" (stored {info['stored']})" if "stored" in info else ""
        cls = f"  {info['class']}{stored}" if info["class"] is not None else ""
        self.cursor_label.setText(f"x {x}  y {y}{value}{cls}")

    def _update_title(self) -> None:
        s = self.session
        title = TITLE if s.dataset is None else f"{TITLE} — {s.dataset.name}"
        self.setWindowTitle(title + (" *" if s.dirty else ""))
        if s.pair is not None:
            n = len(s.dataset.pairs)
            self.statusBar().showMessage(f"{s.pair.name}  ({s.index + 1} of {n})" + ("  read-only" if s.read_only else ""))

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.actions(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.shortcuts_dialog = dialog

    def _about(self) -> None:
        QMessageBox.about(self, "About FCN Studio",
                          "FCN Studio: see and fix segmentation masks, check labels, train a small FCN.")

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event) -> None:
        if not self.session.resolve_unsaved(self.ask, autosave=False):
            event.ignore()
            return
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.session.shutdown()
        event.accept()
