"""Help → Shortcuts: every keyboard shortcut of the window, read from its actions, plus the mouse."""

from __future__ import annotations

from PyQt6.QtGui import QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

#: Gestures that are not actions: (keys or mouse, what they do)
GESTURES = (
    ("0 … 9", "Select the class with that index (0 = background)"),
    ("Mouse wheel", "Zoom around the cursor"),
    ("Middle drag / Space + drag", "Pan"),
    ("Left drag (brush, eraser)", "Paint a stroke: one undo step"),
    ("Click (polygon)", "Add a point; drag draws a lasso that fills on release"),
    ("Enter / double-click (polygon)", "Fill the polygon"),
    ("Esc / right click (polygon)", "Cancel the polygon"),
)


def action_rows(actions) -> list[tuple[str, str]]:
    """(shortcut text, action name) for each action that has a shortcut, sorted by name."""
    rows = []
    seen = set()
    for act in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts() if not k.isEmpty()]
        name = act.text().replace("&", "").rstrip(".…")
        if not keys or (name, tuple(keys)) in seen or name.startswith("Class "):  # one GESTURES row for 0–9
            continue
        seen.add((name, tuple(keys)))
        rows.append((" or ".join(keys), name))
    return sorted(rows, key=lambda r: r[1].lower())


class ShortcutsDialog(QDialog):
    def __init__(self, actions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = action_rows(actions) + list(GESTURES)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (keys, what) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(keys))
            self.table.setItem(r, 1, QTableWidgetItem(what))
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(520, 560)
