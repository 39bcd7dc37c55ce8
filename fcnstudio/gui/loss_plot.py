"""Loss curves: training loss per step (raw and smoothed) and validation loss per evaluation.

Points are appended as events arrive (:meth:`LossPlot.add_step`,
:meth:`LossPlot.add_eval`) and drawn only by :meth:`LossPlot.refresh`, which
the panel calls as events arrive; it draws through ``qthrottled`` (at most
every :data:`MIN_INTERVAL_S`, the last points when the interval ends): one
``setData`` per curve per draw, however many events came in between. pyqtgraph is imported when the plot is
first shown or first gets data, not when the window opens. :class:`LRRangePlot`
shows the LR range test (loss against learning rate, log x).
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fcnstudio.gui.throttle import LazyThrottle

__all__ = ["LRRangePlot", "LossPlot"]

#: the curves are redrawn at most this often (seconds): a pyqtgraph repaint is Python work that holds the
#: GIL the training thread also needs, and a loss curve read by eye needs no more
MIN_INTERVAL_S = 1.0
#: smoothing of the training loss (bias-corrected EMA; ~1/(1-beta) events)
BETA = 0.9
TRAIN_RAW = (120, 160, 220, 110)
TRAIN_SMOOTH = (40, 110, 230)
VAL = (235, 120, 40)


class _LazyPlot(QWidget):
    """A pyqtgraph PlotWidget built on first use (importing pyqtgraph takes ~0.25 s)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.plot is None:
            QTimer.singleShot(300, self.ensure_plot)  # after the window has painted itself

    def ensure_plot(self):
        if self.plot is None:
            import pyqtgraph as pg

            pg.setConfigOptions(antialias=False, background="w", foreground="k")
            self.plot = pg.PlotWidget()
            # no grid: its lines double the cost of a repaint, and the plot repaints while training runs
            self.plot.setDownsampling(auto=True, mode="peak")  # long runs: draw ~ one point per pixel
            self.plot.setClipToView(True)
            self.plot.setMinimumSize(180, 120)
            self._layout.addWidget(self.plot, 1)
            self._build(pg)
        return self.plot

    def _build(self, pg) -> None:
        raise NotImplementedError


class LossPlot(_LazyPlot):
    log_changed = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Show the loss on a logarithmic axis")
        self.log_box.toggled.connect(self.set_log)
        self.caption = QLabel("Loss")
        head = QHBoxLayout()
        head.setContentsMargins(4, 0, 4, 0)
        head.addWidget(self.caption, 1)
        head.addWidget(self.log_box)
        self._layout.addLayout(head)
        #: at most one draw per MIN_INTERVAL_S; the last points are drawn when the interval ends
        self._draw_soon = LazyThrottle(self._draw, int(MIN_INTERVAL_S * 1000), self)
        self.clear()

    def _build(self, pg) -> None:
        p = self.plot
        p.setLabel("bottom", "step")
        p.setLabel("left", "loss")
        p.addLegend(offset=(-10, 10))
        self.raw_curve = p.plot([], [], pen=pg.mkPen(TRAIN_RAW, width=1), name="train", connect="finite")
        self.smooth_curve = p.plot([], [], pen=pg.mkPen(TRAIN_SMOOTH, width=2), name="train (smoothed)",
                                   connect="finite")
        self.val_curve = p.plot([], [], pen=pg.mkPen(VAL, width=2), symbol="o", symbolSize=6,
                                symbolBrush=VAL, name="validation", connect="finite")
        p.setLogMode(y=self.log_box.isChecked())
        self._dirty = True
        self.refresh(force=True)

    # ------------------------------------------------------------------ data

    def clear(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self._smooth_acc, self._smooth_n = 0.0, 0
        self.smoothed: list[float] = []
        self._dirty = True
        self.caption.setText("Loss")

    def add_step(self, step: int, loss: float) -> None:
        loss = float(loss) if loss is not None else math.nan
        self.steps.append(int(step))
        self.losses.append(loss)
        if math.isfinite(loss):
            self._smooth_acc = BETA * self._smooth_acc + (1 - BETA) * loss
            self._smooth_n += 1
        self.smoothed.append(self._smooth_acc / (1 - BETA ** self._smooth_n) if self._smooth_n else math.nan)
        self._dirty = True

    def add_eval(self, step: int, val_loss: float) -> None:
        self.val_steps.append(int(step))
        self.val_losses.append(float(val_loss) if val_loss is not None else math.nan)
        self._dirty = True

    @property
    def point_count(self) -> int:
        """Training-loss points drawn so far (what the curve shows after refresh())."""
        if self.plot is None:
            return 0
        x, _ = self.raw_curve.getData()
        return 0 if x is None else len(x)

    def refresh(self, force: bool = False) -> None:
        """Redraw if new points came in (one setData per curve), at most every MIN_INTERVAL_S unless ``force``."""
        if not self._dirty:
            return
        if not force:
            self._draw_soon()
            return
        self._draw_soon.cancel()
        self._draw()

    def _draw(self) -> None:
        if not self._dirty:
            return
        if self.plot is None:
            if not self.steps and not self.val_steps:
                return
            self.ensure_plot()
            return  # _build() refreshed
        self._dirty = False
        x = np.asarray(self.steps, dtype=np.float64)
        self.raw_curve.setData(x, self._positive(self.losses))
        self.smooth_curve.setData(x, self._positive(self.smoothed))
        self.val_curve.setData(np.asarray(self.val_steps, np.float64), self._positive(self.val_losses))
        if self.steps:
            last = self.smoothed[-1]
            val = f", validation {self.val_losses[-1]:.4g}" if self.val_losses and math.isfinite(self.val_losses[-1]) else ""
            self.caption.setText(f"Loss at step {self.steps[-1]}: {last:.4g} (smoothed){val}")

    def _positive(self, values) -> np.ndarray:
        a = np.asarray(values, dtype=np.float64)
        if self.log_box.isChecked():  # log of 0 or less is not drawable
            a = np.where(a > 0, a, np.nan)
        return a

    def set_log(self, on: bool) -> None:
        if self.log_box.isChecked() != bool(on):
            self.log_box.setChecked(bool(on))  # calls back here
            return
        if self.plot is not None:
            self.plot.setLogMode(y=bool(on))
            self._dirty = True
            self.refresh(force=True)
        self.log_changed.emit(bool(on))


class LRRangePlot(_LazyPlot):
    """Loss against learning rate (log x), with the suggested rate marked."""

    def _build(self, pg) -> None:
        p = self.plot
        p.setLogMode(x=True)
        p.setLabel("bottom", "learning rate")
        p.setLabel("left", "loss")
        self.raw_curve = p.plot([], [], pen=pg.mkPen(TRAIN_RAW, width=1), connect="finite")
        self.smooth_curve = p.plot([], [], pen=pg.mkPen(TRAIN_SMOOTH, width=2), connect="finite")
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(VAL, width=2))
        self.marker.setVisible(False)
        p.addItem(self.marker)

    def show_result(self, lrs, losses, smoothed, suggested: float | None) -> None:
        self.ensure_plot()
        lrs = np.asarray(lrs, np.float64)
        self.raw_curve.setData(lrs, np.asarray(losses, np.float64))
        self.smooth_curve.setData(lrs, np.asarray(smoothed, np.float64))
        if suggested:
            self.marker.setValue(math.log10(suggested))  # the axis is log10 in log mode
            self.marker.setVisible(True)
        else:
            self.marker.setVisible(False)
