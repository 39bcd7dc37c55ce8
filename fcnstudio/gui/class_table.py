"""Per-class numbers of the last evaluation: true %, predicted %, IoU, Dice; collapsed classes in red.

A class is shown as collapsed when it is in the labels but predicted on less
than a tenth of its true share (the monitor's "low"), or when a standing
collapse warning names it. The numbers are the :class:`~fcnstudio.train.events.EvalEvent`'s.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor, QIcon, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

__all__ = ["ClassTable", "is_low"]

COLUMNS = ("Class", "True %", "Predicted %", "IoU", "Dice")
LOW_FACTOR = 0.1  # as the monitor's "low" (fcnstudio.train.monitor.LOW_FACTOR)
RED_BG = QColor(255, 215, 215)
RED_FG = QColor(170, 0, 0)


def is_low(true_fraction: float, pred_fraction: float) -> bool:
    """Present in the labels but predicted on less than a tenth of its share."""
    return true_fraction > 0 and pred_fraction < LOW_FACTOR * true_fraction


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    return f"{100 * x:.2f}" if x >= 0.001 else f"{100 * x:.3f}"


def _num(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "—"


class ClassTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("class_table")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setAlternatingRowColors(True)
        head = self.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Last evaluation on the validation images. Red: a class the network (almost) never "
                        "predicts although it is in the labels.")
        self.names: list[str] = []
        self.colors: list[tuple[int, int, int]] = []
        self.collapsed: set[int] = set()

    def set_classes(self, names, colors=()) -> None:
        """The rows (one per class); the numbers shown are kept when the classes did not change."""
        names, colors = [str(n) for n in names], [tuple(c) for c in colors]
        if names == self.names and colors == self.colors and self.rowCount() == len(names):
            return
        self.names, self.colors = names, colors
        self.setRowCount(len(self.names))
        for r, name in enumerate(self.names):
            item = QTableWidgetItem(name)
            if r < len(self.colors):
                pm = QPixmap(12, 12)
                pm.fill(QColor(*self.colors[r]))
                item.setIcon(QIcon(pm))
            self.setItem(r, 0, item)
            for c in range(1, len(COLUMNS)):
                self.setItem(r, c, self._cell("—"))
        self.collapsed = set()
        self.updateGeometry()

    def sizeHint(self):
        """As tall as the rows (the plot above takes the rest)."""
        hint = super().sizeHint()
        rows = sum(self.rowHeight(r) for r in range(min(self.rowCount(), 12)))
        hint.setHeight(self.horizontalHeader().height() + rows + 2 * self.frameWidth() + 2)
        return hint

    def clear_numbers(self) -> None:
        """Dashes everywhere (a new run has no evaluation yet)."""
        names, self.names = self.names, []
        self.set_classes(names, self.colors)

    def _cell(self, text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def update_eval(self, ev, warned: set[int] = frozenset()) -> None:
        """Show ``ev`` (an EvalEvent); ``warned``: classes a standing collapse warning names."""
        n = ev.num_classes
        if n != len(self.names):
            self.set_classes(self.names[:n] + [f"class {i}" for i in range(len(self.names), n)], self.colors)
        self.collapsed = set()
        for r in range(n):
            t, p = ev.true_fraction[r], ev.pred_fraction[r]
            values = (_pct(t), _pct(p), _num(ev.iou[r]), _num(ev.dice[r]))
            low = (r > 0 and is_low(t, p)) or r in warned
            if low:
                self.collapsed.add(r)
            for c, text in enumerate(values, start=1):
                self.item(r, c).setText(text)
            for c in range(len(COLUMNS)):
                item = self.item(r, c)
                item.setBackground(QBrush(RED_BG) if low else QBrush())
                item.setForeground(QBrush(RED_FG) if low else QBrush())
                f = item.font()
                f.setBold(low)
                item.setFont(f)
            self.item(r, 0).setToolTip(
                f"{self.names[r]}: predicted on {_pct(p)} % of the pixels, {_pct(t)} % in the labels"
                + (" — collapsed: the network (almost) never predicts it" if low else ""))
