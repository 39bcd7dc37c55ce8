"""The list of image/mask pairs, with a mark per pair: unsaved edits, checker errors, no mask yet.

A view over ``session.dataset.pairs`` (a list model, so 10,000 pairs cost
nothing); choosing a row asks the window to go there (``pair_requested``):
the window decides about unsaved edits.
"""

from __future__ import annotations

from PyQt6.QtCore import QAbstractListModel, QModelIndex, QSortFilterProxyModel, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from fcnstudio.gui.app import observe


def _mark_icon(kind: str) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    if kind == "unsaved":
        p.setBrush(QColor(255, 160, 0))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(3, 3, 8, 8)
    elif kind in ("error", "unreadable"):
        p.setBrush(QColor(220, 50, 50))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(1, 1, 12, 12)
        p.setPen(QColor(255, 255, 255))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(10)
        p.setFont(font)
        p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, "!" if kind == "error" else "×")
    elif kind == "no-mask":
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QColor(150, 150, 150))
        p.drawEllipse(3, 3, 8, 8)
    p.end()
    return QIcon(pix)


class PairModel(QAbstractListModel):
    """Rows = the session's pairs; the mark and tooltip come from ``session.pair_status``."""

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._icons: dict[str, QIcon] = {}

    def _icon(self, kind: str) -> QIcon:
        if kind not in self._icons:
            self._icons[kind] = _mark_icon(kind)
        return self._icons[kind]

    def rowCount(self, parent=QModelIndex()) -> int:
        ds = self.session.dataset
        return 0 if parent.isValid() or ds is None else len(ds.pairs)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        ds = self.session.dataset
        if ds is None or not index.isValid() or index.row() >= len(ds.pairs):
            return None
        row = index.row()
        pair = ds.pairs[row]
        if role == Qt.ItemDataRole.DisplayRole:
            status = self.session.pair_status(row)
            return pair.name + (" *" if status.unsaved else "")
        if role == Qt.ItemDataRole.DecorationRole:
            status = self.session.pair_status(row)
            kind = ("unsaved" if status.unsaved else "unreadable" if status.unreadable
                    else "error" if status.errors else "no-mask" if status.no_mask else "ok")
            return self._icon(kind)
        if role == Qt.ItemDataRole.ToolTipRole:
            status = self.session.pair_status(row)
            lines = [pair.name]
            if status.unsaved:
                lines.append("unsaved edits")
            if status.unreadable:
                lines.append("a file could not be read")
            if status.errors:
                lines.append(f"{status.errors} checker error(s)")
            if status.no_mask:
                lines.append("no mask yet: paint to create one")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ForegroundRole and pair.mask is None:
            return QBrush(QColor(140, 140, 140))
        if role == Qt.ItemDataRole.FontRole and row == self.session.index:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def refresh(self) -> None:
        n = self.rowCount()
        if n:
            self.dataChanged.emit(self.index(0), self.index(n - 1))


class PairList(QWidget):
    """Filter box + list of pairs. ``pair_requested(index)`` when the user picks one."""

    pair_requested = pyqtSignal(int)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = PairModel(session, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit(placeholderText="Filter by name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.count = QLabel()
        self.count.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        layout.addWidget(self.count)
        self._syncing = False
        observe(self, [
            (session.dataset_changed, self._on_dataset_changed),
            (session.pair_changed, self._on_pair_changed),
            (session.status_changed, self.model.refresh),
        ])
        self._on_dataset_changed()

    def _on_dataset_changed(self) -> None:
        self._syncing = True
        self.model.reset()
        self._syncing = False
        ds = self.session.dataset
        self.count.setText("" if ds is None else f"{len(ds.pairs)} pairs, {len(ds.complete_pairs)} with a mask")

    def _on_pair_changed(self) -> None:
        self.model.refresh()
        self.select(self.session.index)

    def select(self, row: int) -> None:
        """Show ``row`` as current without asking to go there."""
        self._syncing = True
        try:
            idx = self.proxy.mapFromSource(self.model.index(row)) if row >= 0 else QModelIndex()
            self.view.selectionModel().setCurrentIndex(
                idx, self.view.selectionModel().SelectionFlag.ClearAndSelect
            )
            if idx.isValid():
                self.view.scrollTo(idx)
        finally:
            self._syncing = False

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        row = self.proxy.mapToSource(current).row()
        if row != self.session.index:
            self.pair_requested.emit(row)
            if self.session.index != row:  # the move was cancelled: show the pair that stays
                self.select(self.session.index)
