"""The Runs dock's plots: the loss curves and the per-class IoU curves of the selected runs, overlaid.

Each run has its own colour (the same in both plots, and the swatch in the
table's first column); in the IoU plot each class has its own line style. The
loss legend names the runs; the IoU legend names the runs (their colour) and
then the classes (their line style, in grey), so it stays short. pyqtgraph is imported when the first runs are shown.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

__all__ = ["RunsPlot", "run_color"]

#: run colours, in selection order (distinct on a white background)
COLORS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34))
STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine,
          Qt.PenStyle.DashDotDotLine)


def run_color(i: int) -> tuple[int, int, int]:
    return COLORS[i % len(COLORS)]


class RunsPlot(QWidget):
    """:meth:`show_runs` draws ``[(name, Curves, class names)]``; :attr:`loss_plot`, :attr:`iou_plot` once built."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = self.iou_plot = None
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("Select one or several runs (Ctrl/Shift+click) to overlay their curves.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addLayout(self._row, 1)

    def _ensure(self):
        import pyqtgraph as pg

        if self.loss_plot is None:
            pg.setConfigOptions(antialias=False, background="w", foreground="k")
            self.loss_plot = pg.PlotWidget(title="Training loss")
            self.iou_plot = pg.PlotWidget(title="Validation IoU per class")
            for p, left in ((self.loss_plot, "loss"), (self.iou_plot, "IoU")):
                p.setLabel("bottom", "step")
                p.setLabel("left", left)
                p.addLegend(offset=(-10, 10), brush=(255, 255, 255, 210), labelTextSize="8pt")
                p.setMinimumSize(200, 140)
                self._row.addWidget(p, 1)
            self.iou_plot.setYRange(0, 1)
        return pg

    def show_runs(self, runs: list) -> None:
        """Draw each run's curves (``runs``: (name, Curves, class names) in colour order); [] clears."""
        self.hint.setVisible(not runs)
        if not runs and self.loss_plot is None:
            return
        pg = self._ensure()
        for p in (self.loss_plot, self.iou_plot):
            p.clear()  # the curves
            p.plotItem.legend.clear()  # and the legend (its run/class entries are not curves of the plot)
        labels: list[str] = []
        for i, (name, curves, classes) in enumerate(runs):
            color = run_color(i)
            self.loss_plot.plot(curves.steps, curves.loss, pen=pg.mkPen(color, width=2), name=name,
                                connect="finite")
            self.iou_plot.plotItem.legend.addItem(pg.PlotDataItem(pen=pg.mkPen(color, width=2)), name)
            n = max((len(v) for v in curves.iou), default=0)
            for c in range(n):
                ys = [v[c] if c < len(v) else float("nan") for v in curves.iou]
                self.iou_plot.plot(curves.eval_steps, ys, pen=pg.mkPen(color, width=2, style=STYLES[c % len(STYLES)]),
                                   symbol="o", symbolSize=5, symbolBrush=color, connect="finite")
                if c >= len(labels):
                    labels.append(classes[c] if c < len(classes) else f"class {c}")
        for c, label in enumerate(labels):
            pen = pg.mkPen((90, 90, 90), width=2, style=STYLES[c % len(STYLES)])
            self.iou_plot.plotItem.legend.addItem(pg.PlotDataItem(pen=pen), label)

    def curve_names(self) -> tuple[list[str], list[str]]:
        """The legend entries of the loss plot (runs) and of the IoU plot (runs, then classes)."""
        if self.loss_plot is None:
            return [], []
        return tuple([label.text for _, label in p.plotItem.legend.items] for p in (self.loss_plot, self.iou_plot))
