"""Put the Review dock into the main window: the dock, the Review menu, its keys, and the prediction layer.

The actions are the window's (so Help → Shortcuts lists them and their keys
work anywhere in the window) and the dock's buttons show them:

    Ctrl+Shift+R  Find label errors (start a review with the dock's settings)
    .  /  ,       next / previous region
    A             accept the model's region into the mask (one undo step)
    D             dismiss the region (remembered; later reviews do not bring it back)
    M             show / hide the model's prediction over the mask

Everything of the review (actions, controller, job) belongs to the dock's
panel: deleting it stops a running review and joins its thread. The panel
and controller are built when first needed (:class:`ReviewDock`), so the
window's start does not import the review code.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QApplication, QDockWidget, QFrame, QMenu, QMessageBox, QScrollArea

from fcnstudio.core.state_dirs import reviews_dir
from fcnstudio.gui.app import observe

__all__ = ["ACTIONS", "ReviewDock", "install_review"]


#: key -> (menu text, shortcut, status tip)
ACTIONS = {
    "find": ("&Find label errors", "Ctrl+Shift+R",
             "Train a few models on parts of the dataset and rank the masks by how confidently they disagree"),
    "cancel": ("&Cancel review", None, "Stop the running review; nothing of it is kept"),
    "next": ("&Next region", ".", "Show the next region of the review"),
    "previous": ("&Previous region", ",", "Show the previous region of the review"),
    "accept": ("&Accept the model's region", "A", "Paint the model's class into the region: one undo step, "
               "not saved until you save"),
    "dismiss": ("&Dismiss the region", "D", "The label is right here: hide the region from this and later reviews"),
    "layer": ("Show the model's &prediction", "M", "Draw the model's classes (outlines) and where it disagrees "
              "with the mask (yellow) over the image"),
    "train_again": ("&Train again", None, "Train with the Training settings on the fixed masks; the Runs dock "
                    "then shows the new run beside the one before"),
}
SHORT = {"find": "Find label errors", "cancel": "Cancel", "next": "Next ▶", "previous": "◀ Previous",
         "accept": "Accept (A)", "dismiss": "Dismiss (D)", "layer": "Prediction (M)", "train_again": "Train again"}


def _actions(window) -> dict:
    actions = {}
    for key, (text, shortcut, tip) in ACTIONS.items():
        act = actions[key] = QAction(text, window)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setStatusTip(tip)
        act.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        act.setIconText(SHORT[key])
        window.addAction(act)  # the keys work anywhere in the window; Help → Shortcuts lists them
    actions["layer"].setCheckable(True)
    actions["layer"].setChecked(True)
    return actions


def _menu(window, actions: dict) -> QMenu:
    bar = window.menuBar()
    menu = QMenu("&Review", bar)
    help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    bar.insertMenu(help_menu, menu) if help_menu is not None else bar.addMenu(menu)
    for key in ("find", "cancel", None, "next", "previous", "accept", "dismiss", "layer", None, "train_again"):
        menu.addSeparator() if key is None else menu.addAction(actions[key])
    return menu


class _CloseGuard(QObject):
    """Closing the window while a review runs: Discard it and close / Cancel; then its thread is joined."""

    def __init__(self, window, controller) -> None:
        super().__init__(controller)
        self.window, self.controller = window, controller

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Close or obj is not self.window or self.controller.job is None:
            return False
        answer = QMessageBox.question(self.window, "A review is running",
                                      "A label review is still running. Discard it and close? Nothing of it is kept.",
                                      QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Discard:
            event.ignore()
            return True
        self.controller.shutdown()
        return False


class ReviewDock(QObject):
    """The Review dock, its menu and keys, in the window from the start; its panel and controller (and the
    review code they import) are built the first time they are needed: the dock is shown, one of its actions
    is triggered, or :attr:`panel` is asked for. The window starts without paying for what it may never use."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.actions = _actions(window)
        self.menu = _menu(window, self.actions)
        self.scroll = scroll = QScrollArea()  # a short column scrolls the dock instead of drawing rows over each other
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # as wide as the panel needs
        self.dock = window.add_dock(scroll, "Review", Qt.DockWidgetArea.RightDockWidgetArea, "review_dock")
        checker_dock = next((d for d in window.findChildren(QDockWidget) if d.objectName() == "checker_dock"), None)
        if not getattr(window, "_state_restored", False) and checker_dock is not None:
            window.tabifyDockWidget(checker_dock, self.dock)
            checker_dock.raise_()
        self._panel = None
        for key in ("cancel", "next", "previous", "accept", "dismiss"):
            self.actions[key].setEnabled(False)  # nothing to act on before a review is open
        # until the panel is built: showing the dock or triggering an action builds it (then the panel's own
        # connections take over and these go)
        self._early = [(self.dock.visibilityChanged, lambda shown: shown and self.panel)]
        self._early += [(act.triggered, lambda *_, k=key: self._first_trigger(k))
                        for key, act in self.actions.items() if key != "layer"]
        for signal, slot in self._early:
            signal.connect(slot)
        observe(self, [(window.session.dataset_changed, self._on_dataset)])
        self._on_dataset()

    @property
    def built(self) -> bool:
        return self._panel is not None

    def _on_dataset(self) -> None:
        if self._panel is not None:
            return  # the controller follows the dataset (and the actions) from here on
        ds = self.window.session.dataset
        for key in ("find", "train_again"):
            self.actions[key].setEnabled(ds is not None)
        if ds is not None and reviews_dir(ds.root).is_dir():
            self.panel  # the dataset has reviews: open the newest now, so that . and , work with the dock hidden

    def _first_trigger(self, key: str) -> None:
        """An action triggered before the panel was built: build it and do what was asked."""
        if self._panel is None:
            self.panel.controller.trigger(key)

    @property
    def panel(self):
        """The dock's :class:`~fcnstudio.gui.review_panel.ReviewPanel` (built on first use)."""
        if self._panel is None:
            early, self._early = self._early, []  # a failed build leaves nothing half-disconnected behind
            for signal, slot in early:
                signal.disconnect(slot)
            self._panel = _build(self.window, self.actions, self.menu, self.scroll)
        return self._panel


def _build(window, actions: dict, menu: QMenu, scroll: QScrollArea):
    from fcnstudio.gui.review_controller import ReviewController
    from fcnstudio.gui.review_layer import PredictionLayer
    from fcnstudio.gui.review_panel import ReviewPanel

    panel = ReviewPanel(window.settings.store, actions)
    for act in actions.values():
        act.setParent(panel)  # they go with the dock (and leave the window's menus and keys)
    panel.menu = menu
    scroll.setWidget(panel)
    scroll.setMinimumWidth(panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
    layer = PredictionLayer()
    layer.visible = actions["layer"].isChecked()  # M may have been pressed before the panel was built
    window.canvas.layers.append(layer)
    c = panel.controller = ReviewController(window, panel, actions, layer)
    actions["layer"].toggled.connect(c.set_layer_visible)
    for key in ACTIONS:
        if key != "layer":
            actions[key].triggered.connect(lambda *_, k=key: c.trigger(k))
    panel.review_chosen.connect(c.open_review)
    panel.order_changed.connect(c.set_order)
    panel.list.region_selected.connect(c.select)
    panel.show_anyway.toggled.connect(lambda _: c.update_actions())
    observe(panel, [(window.session.dataset_changed, c.on_dataset), (window.session.pair_changed, c.on_pair_changed),
                    (window.session.mask_changed, c.on_mask_changed)])
    window.installEventFilter(_CloseGuard(window, c))
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(c.shutdown)

    def gone(*_) -> None:  # the dock's panel is being deleted: no review outlives it, no layer stays drawn
        try:
            c.shutdown()
        except RuntimeError:  # the interpreter is exiting and Qt deleted the job's pool first: no thread to join
            pass
        if layer in window.canvas.layers:
            window.canvas.layers.remove(layer)

    panel.destroyed.connect(gone)
    c.on_dataset()
    return panel


def install_review(window) -> ReviewDock:
    """Create the Review dock (tabbed with the Checker dock) and the Review menu in ``window``."""
    return ReviewDock(window)
