"""The classes panel: colour, name and pixel count of each class in the current mask.

Add, rename (double-click the name) and recolour (double-click the swatch)
go through the session, which writes fcnstudio.json. Reordering is not
offered: it would silently renumber every mask already painted. The
checkbox of a row shows or hides that class on the canvas (view state only).
"""

from __future__ import annotations

from PyQt6.QtCore import QTimer, Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fcnstudio.core.session import SessionError
from fcnstudio.gui.app import observe
from fcnstudio.gui.tools import swatch_icon

COUNT_DELAY_MS = 250
COL_INDEX, COL_NAME, COL_COUNT = 0, 1, 2


class ClassesPanel(QWidget):
    """Rows of classes; selecting one makes it the painting class."""

    #: (class index, visible)
    visibility_changed = pyqtSignal(int, bool)
    #: a message for the status bar (errors writing fcnstudio.json, bad names)
    message = pyqtSignal(str)

    def __init__(self, session, state, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.state = session, state
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["#", "Class", "Pixels"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.tree.header()
        header.setSectionResizeMode(COL_INDEX, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_COUNT, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a class at the end (existing masks keep their numbers)")
        self.add_button.clicked.connect(self.add_class)
        self.rename_button = QPushButton("Rename")
        self.rename_button.clicked.connect(self.rename_current)
        self.color_button = QPushButton("Colour…")
        self.color_button.clicked.connect(self.recolor_current)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.rename_button, self.color_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._updating = False
        self._count_timer = QTimer(self, singleShot=True, interval=COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self.update_counts)
        observe(self, [
            (session.dataset_changed, self._reset),
            (session.project_changed, self.rebuild),
            (session.pair_changed, self.update_counts),
            (session.mask_changed, lambda _rect: self._count_timer.start()),
            (state.changed, self._on_state_changed),
        ])
        self.rebuild()

    # ------------------------------------------------------------------ view

    def rebuild(self) -> None:
        """Make the rows match the project's classes (rows are updated in place)."""
        project = self.session.project
        classes = project.classes if project is not None else ()
        self._updating = True
        try:
            while self.tree.topLevelItemCount() > len(classes):
                self.tree.takeTopLevelItem(self.tree.topLevelItemCount() - 1)
            for i, c in enumerate(classes):
                item = self.tree.topLevelItem(i)
                if item is None:
                    item = self._new_item(i)
                    self.tree.addTopLevelItem(item)
                if item.text(COL_NAME) != c.name:
                    item.setText(COL_NAME, c.name)
                item.setIcon(COL_INDEX, swatch_icon(c.color))
        finally:
            self._updating = False
        self._select(self.state.current_class)
        self.update_counts()

    @staticmethod
    def _new_item(i: int) -> QTreeWidgetItem:
        item = QTreeWidgetItem([str(i), "", ""])
        flags = item.flags() | Qt.ItemFlag.ItemIsEditable
        if i > 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
            item.setCheckState(COL_INDEX, Qt.CheckState.Checked)
        item.setFlags(flags)
        item.setTextAlignment(COL_COUNT, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip(COL_INDEX, "Double-click to change the colour; the box shows or hides the class")
        item.setToolTip(COL_NAME, "Double-click to rename")
        return item

    def _reset(self) -> None:
        self._updating = True
        self.tree.clear()
        self._updating = False
        self.rebuild()

    def update_counts(self) -> None:
        counts = self.session.class_counts()
        total = max(1, int(counts.sum()))
        self._updating = True
        try:
            for i in range(min(len(counts), self.tree.topLevelItemCount())):
                n = int(counts[i])
                self.tree.topLevelItem(i).setText(COL_COUNT, f"{n:,}  ({100.0 * n / total:.1f}%)" if n else "0")
        finally:
            self._updating = False

    def _select(self, index: int) -> None:
        item = self.tree.topLevelItem(index)
        if item is not None and self.tree.currentItem() is not item:
            self._updating = True
            self.tree.setCurrentItem(item)
            self._updating = False

    def _on_state_changed(self, names) -> None:
        if "current_class" in names:
            self._select(self.state.current_class)

    # ------------------------------------------------------------------ intents

    def _on_current(self, item, _previous) -> None:
        if item is not None and not self._updating:
            self.state.set(current_class=self.tree.indexOfTopLevelItem(item))

    def _on_item_changed(self, item, column: int) -> None:
        if self._updating:
            return
        index = self.tree.indexOfTopLevelItem(item)
        if column == COL_INDEX:
            self.visibility_changed.emit(index, item.checkState(COL_INDEX) == Qt.CheckState.Checked)
        elif column == COL_NAME:
            name = item.text(COL_NAME)
            if name != self.session.project.classes[index].name:
                self._run(lambda: self.session.rename_class(index, name))

    def _on_double_click(self, item, column: int) -> None:
        if column == COL_INDEX:
            self.tree.setCurrentItem(item)
            self.recolor_current()
        else:
            self.tree.editItem(item, COL_NAME)

    def add_class(self) -> None:
        index = self._run(self.session.add_class)
        if index is not None:
            self.state.set(current_class=index)
            item = self.tree.topLevelItem(index)
            if item is not None:
                self.tree.editItem(item, COL_NAME)

    def rename_current(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.tree.editItem(item, COL_NAME)

    def recolor_current(self) -> None:
        item = self.tree.currentItem()
        project = self.session.project
        if item is None or project is None:
            return
        index = self.tree.indexOfTopLevelItem(item)
        color = QColorDialog.getColor(QColor(*project.classes[index].color), self, f"Colour of {project.classes[index].name}")
        if color.isValid():
            self._run(lambda: self.session.recolor_class(index, (color.red(), color.green(), color.blue())))

    def _run(self, action):
        """Run a session intent; report refusals and disk errors instead of raising."""
        try:
            return action()
        except SessionError as exc:
            self.message.emit(str(exc))
            self.rebuild()
        except OSError as exc:
            self.message.emit(f"Classes changed, but fcnstudio.json could not be written: {exc}")
        return None
