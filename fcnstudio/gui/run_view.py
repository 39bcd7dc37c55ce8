"""What a training run shows as it goes: the loss curve over the per-class table, and the preview grid."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QScrollArea, QSplitter, QWidget

from fcnstudio.gui.class_table import ClassTable
from fcnstudio.gui.loss_plot import LossPlot
from fcnstudio.gui.preview_grid import PreviewGrid

__all__ = ["RunView"]


class RunView(QSplitter):
    """Middle: :attr:`plot` over :attr:`table`; right: :attr:`grid` (its ``open_requested`` opens a pair)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.plot = LossPlot()
        self.table = ClassTable()
        self.grid = PreviewGrid()
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.plot)
        middle.addWidget(self.table)
        middle.setStretchFactor(0, 1)
        middle.setStretchFactor(1, 0)
        scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(self.grid.full_width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.addWidget(middle)
        self.addWidget(scroll)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)

    def set_classes(self, names, colors) -> None:
        self.table.set_classes(names, colors)
        self.grid.set_classes(names, colors)

    def clear(self) -> None:
        """A new run: no curve, no previews, no numbers (the class names stay)."""
        self.plot.clear()
        self.grid.clear()
        self.table.clear_numbers()

    def show_eval(self, ev, warned: set) -> None:
        """An evaluation's per-class numbers (``warned``: classes a collapse warning names) and previews."""
        self.table.update_eval(ev, warned)
        if ev.previews:
            self.grid.show_previews(ev.previews)
