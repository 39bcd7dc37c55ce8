"""What the network predicts for up to four validation images, refreshed at each evaluation.

One row per image: the image, its ground truth, the predicted mask (class
colours) and a heat map of one class's probability (the class is chosen above
the grid). Clicking a row asks the window to open that pair in the editor
(``open_requested(stem)``). The previews arrive already downscaled by the
trainer (at most 256 px a side); tiles are drawn once per evaluation.
"""

from __future__ import annotations

import cv2
import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fcnstudio.gui.qimage import qimage

__all__ = ["PreviewGrid", "colour_lut", "heat_lut", "mask_rgb"]

MAX_ROWS = 4
TILE = 96
STEM_WIDTH = 64
SPACING = 3
HEADERS = ("image", "ground truth", "prediction", "probability")
#: value shown for ignore/void pixels and values past the classes
OTHER = (128, 128, 128)
#: dark blue → purple → orange → yellow (like matplotlib's "plasma"), for probability 0 → 1
_HEAT_STOPS = ((0.0, (13, 8, 135)), (0.25, (126, 3, 168)), (0.5, (204, 71, 120)),
               (0.75, (248, 149, 64)), (1.0, (240, 249, 33)))


def heat_lut() -> np.ndarray:
    """(256, 3) uint8 colour table for probabilities 0..1."""
    x = np.linspace(0, 1, 256)
    pos = [s[0] for s in _HEAT_STOPS]
    cols = np.array([s[1] for s in _HEAT_STOPS], np.float64)
    return np.stack([np.interp(x, pos, cols[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


_HEAT = heat_lut()


def colour_lut(colors) -> np.ndarray:
    """(256, 3) uint8: class index → its colour (values past the classes grey)."""
    lut = np.empty((256, 3), np.uint8)
    lut[:] = OTHER
    for i, c in enumerate(list(colors)[:256]):
        lut[i] = c
    return lut


def mask_rgb(mask: np.ndarray, colors) -> np.ndarray:
    """Class indices → HxWx3 uint8 in the class colours (anything else grey)."""
    lut = colors if isinstance(colors, np.ndarray) else colour_lut(colors)
    return np.take(lut, np.ascontiguousarray(mask if mask.dtype == np.uint8 else np.minimum(mask, 255)), axis=0)


def _shrink(a: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th pixel (nearest neighbour: class indices stay class indices)."""
    return a[..., ::step, ::step] if step > 1 else a


class _Tile(QLabel):
    clicked = pyqtSignal()

    def __init__(self, size: int) -> None:
        super().__init__()
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #202020;")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)

    def show_array(self, a: np.ndarray, smooth: bool) -> None:
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        image = qimage(np.ascontiguousarray(a)).copy()  # own the pixels: ``a`` goes away
        pm = QPixmap.fromImage(image).scaled(self.width(), self.height(), Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(pm)


class PreviewGrid(QWidget):
    open_requested = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, tile: int = TILE) -> None:
        super().__init__(parent)
        self.setObjectName("preview_grid")
        self.tile_size = tile
        self.colors: list = []
        self.names: list[str] = []
        self.previews: tuple = ()
        self.class_box = QComboBox()
        self.class_box.setToolTip("Which class's probability the heat maps show (dark: 0, yellow: 1)")
        self.class_box.currentIndexChanged.connect(self._draw_heat)
        self.empty = QLabel("Predictions for a few validation images appear here after the first evaluation.")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: gray;")
        head = QHBoxLayout()
        head.addWidget(QLabel("Probability of"))
        head.addWidget(self.class_box, 1)
        grid = QGridLayout()
        grid.setSpacing(SPACING)
        self.headers = []
        for c, text in enumerate(HEADERS):
            label = QLabel(text)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(label, 0, c + 1)
            self.headers.append(label)
        self.stems: list[QLabel] = []
        self.tiles: list[list[_Tile]] = []
        for r in range(MAX_ROWS):
            stem = QLabel()
            stem.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            stem.setFixedWidth(STEM_WIDTH)
            grid.addWidget(stem, r + 1, 0)
            self.stems.append(stem)
            row = []
            for c in range(len(HEADERS)):
                t = _Tile(tile)
                t.clicked.connect(lambda r=r: self._clicked(r))
                grid.addWidget(t, r + 1, c + 1)
                row.append(t)
            self.tiles.append(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(head)
        layout.addWidget(self.empty)
        layout.addLayout(grid)
        layout.addStretch(1)
        self._show_rows(0)

    def full_width(self) -> int:
        """Width that shows the four columns without a horizontal scroll bar."""
        m = self.layout().contentsMargins()
        return STEM_WIDTH + len(HEADERS) * (self.tile_size + SPACING) + m.left() + m.right()

    def set_classes(self, names, colors) -> None:
        self.names = [str(n) for n in names]
        self.colors = [tuple(c) for c in colors]
        keep = self.class_box.currentIndex()
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItems(self.names)
        self.class_box.setCurrentIndex(keep if 0 <= keep < len(self.names) else min(1, len(self.names) - 1))
        self.class_box.blockSignals(False)

    @property
    def heat_class(self) -> int:
        return max(0, self.class_box.currentIndex())

    def clear(self) -> None:
        self.previews = ()
        for row in self.tiles:
            for t in row:
                t.clear()
        self._show_rows(0)

    def _step(self, p) -> int:
        """Pixel step that brings a preview down to about the tile size before colouring it."""
        return max(1, max(p.image.shape[:2]) // self.tile_size)

    def show_previews(self, previews) -> None:
        """Draw up to four :class:`~fcnstudio.train.events.Preview` objects."""
        self.previews = tuple(previews)[:MAX_ROWS]
        self._show_rows(len(self.previews))
        lut = colour_lut(self.colors)
        for r, p in enumerate(self.previews):
            self.stems[r].setText(self.stems[r].fontMetrics().elidedText(p.stem, Qt.TextElideMode.ElideMiddle,
                                                                          STEM_WIDTH - 4))
            step = self._step(p)
            tiles = self.tiles[r]
            small = _shrink(p.truth, step).shape
            tiles[0].show_array(cv2.resize(p.image, small[::-1], interpolation=cv2.INTER_AREA), smooth=True)
            tiles[1].show_array(mask_rgb(_shrink(p.truth, step), lut), smooth=False)
            tiles[2].show_array(mask_rgb(_shrink(p.pred, step), lut), smooth=False)
            for t in tiles:
                t.setToolTip(f"{p.stem}: click to open it in the editor")
        self._draw_heat()

    def _draw_heat(self, *_) -> None:
        k = self.heat_class
        for r, p in enumerate(self.previews):
            if k < p.prob.shape[0]:
                prob = _shrink(p.prob[k], self._step(p)).astype(np.float32)
                u8 = (prob * 255).clip(0, 255).astype(np.uint8)
                self.tiles[r][3].show_array(_HEAT[u8], smooth=True)
            else:
                self.tiles[r][3].clear()

    def _show_rows(self, n: int) -> None:
        self.empty.setVisible(n == 0)
        for label in self.headers:
            label.setVisible(n > 0)
        for r in range(MAX_ROWS):
            self.stems[r].setVisible(r < n)
            for t in self.tiles[r]:
                t.setVisible(r < n)

    def _clicked(self, row: int) -> None:
        if row < len(self.previews):
            self.open_requested.emit(self.previews[row].stem)
