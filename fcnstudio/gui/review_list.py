"""The Review dock's list: images by score with their regions, or every region of the dataset in one queue.

It shows a :class:`~fcnstudio.core.review.ReviewQueue` (which it does not
keep: :meth:`show_queue` fills the rows) and says which region was picked
(``region_selected(key)``). In image order an image is a row with its regions
under it; picking the image picks its first region. Accepted regions are
marked and greyed; dismissed ones are gone from the queue.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from fcnstudio.core.review import ALL_REGIONS

__all__ = ["COLUMNS", "ReviewList"]

COLUMNS = ("Score", "Image", "Region")
KEY = Qt.ItemDataRole.UserRole
DONE = QColor(128, 128, 128)


def _score(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "—"


def _left(left: int, total: int) -> str:
    return f"{left} of {total} region(s) left"


class ReviewList(QTreeWidget):
    region_selected = pyqtSignal(object)  # the region's key (QueueItem.key)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("review_list")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.header().setStretchLastSection(True)
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setToolTip("Most suspicious first. Select a region to see it in the editor; "
                        "A accepts the model's version, D dismisses it, . and , go on and back")
        self.itemSelectionChanged.connect(self._picked)
        self._items: dict = {}  # key -> row

    def show_queue(self, queue) -> None:
        """Fill the rows from ``queue`` (None: empty), keeping the selected region when it is still there."""
        keep = self.current_key()
        self.blockSignals(True)
        self.clear()
        self._items = {}
        if queue is not None:
            if queue.order == ALL_REGIONS:
                for it in queue.items():
                    self.addTopLevelItem(self._region_row(queue, it, with_image=True))
            else:
                self._by_image(queue)
        for c in range(len(COLUMNS) - 1):
            self.resizeColumnToContents(c)
        if keep in self._items:
            self._items[keep].setSelected(True)
            self.scrollToItem(self._items[keep])
        self.blockSignals(False)

    def _by_image(self, queue) -> None:
        by_mask: dict = {}
        for it in queue.items():
            by_mask.setdefault(it.image.mask, []).append(it)
        for im in queue.review.images:
            regions = by_mask.get(im.mask, [])
            if not regions:
                continue
            left = sum(1 for it in regions if not queue.is_accepted(it))
            row = QTreeWidgetItem([_score(im.score), im.stem or im.mask, _left(left, len(regions))])
            row.setToolTip(1, im.mask)
            row.setData(0, KEY, regions[0].key)
            self.addTopLevelItem(row)
            for it in regions:
                row.addChild(self._region_row(queue, it, with_image=False))
            row.setExpanded(True)

    def _region_row(self, queue, it, with_image: bool) -> QTreeWidgetItem:
        row = QTreeWidgetItem([_score(it.region.score), (it.image.stem or it.image.mask) if with_image else "", ""])
        row.setData(0, KEY, it.key)
        self._items[it.key] = row
        self._mark(queue, it, row)
        return row

    def _mark(self, queue, it, row: QTreeWidgetItem) -> None:
        r = it.region
        what = f"{r.kind}: {queue.class_name(r.label)} → {queue.class_name(r.predicted)}"
        done = queue.is_accepted(it)
        row.setText(2, ("✓ " if done else "") + what)
        row.setToolTip(2, f"{what}, {r.area} px at x={r.box[0]} y={r.box[1]}" + (" (accepted)" if done else ""))
        if done:
            for c in range(len(COLUMNS)):
                row.setForeground(c, QBrush(DONE))

    def mark(self, queue, it) -> None:
        """``it`` was accepted: mark its row (and its image's count) without filling the list again."""
        row = self._items.get(it.key)
        if row is None:
            return
        self._mark(queue, it, row)
        parent = row.parent()
        if parent is not None:
            keys = [parent.child(i).data(0, KEY) for i in range(parent.childCount())]
            left = sum(1 for k in keys if k not in queue.accepted)
            parent.setText(2, _left(left, len(keys)))

    # ------------------------------------------------------------------ selection

    def current_key(self):
        sel = self.selectedItems()
        return sel[0].data(0, KEY) if sel else None

    def select_key(self, key) -> bool:
        """Select the region with ``key`` without emitting (the dock already shows it); False when not listed."""
        row = self._items.get(key)
        self.blockSignals(True)
        self.clearSelection()
        if row is not None:
            row.setSelected(True)
            self.scrollToItem(row)
        self.blockSignals(False)
        return row is not None

    def _picked(self) -> None:
        sel = self.selectedItems()
        if not sel:
            return
        key = sel[0].data(0, KEY)
        if sel[0].childCount():  # an image row: its first region
            self.select_key(key)
        self.region_selected.emit(key)
