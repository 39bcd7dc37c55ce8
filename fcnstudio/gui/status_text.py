"""A few wrapped lines of status text that change several times a second without re-laying out the dock,
and the clock its progress lines use.

A QLabel whose text changes asks its layout to recompute (and with it the
whole window's) at every change; this widget has a fixed height and only
repaints itself. Text longer than its three lines ends in "…" (the whole text
is the tooltip).
"""

from __future__ import annotations

from PyQt6.QtCore import QRect, Qt
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

__all__ = ["StatusText", "clock_text"]


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (a duration or an ETA)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


_FLAGS = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)


class StatusText(QWidget):
    """Up to three wrapped lines of text that change a few times a second without re-laying out the dock."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._text = text
        self._fitted: tuple = (None, None, "")  # (text, width) -> what is drawn
        self.setToolTip(text)
        self.setFixedHeight(3 * self.fontMetrics().lineSpacing() + 4)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def shown_text(self) -> str:
        """The text as drawn at the current width: all of it, or as much as fits followed by "…"."""
        rect = self._text_rect()
        if self._fitted[:2] != (self._text, rect.width()):
            self._fitted = (self._text, rect.width(), self._fit(rect))
        return self._fitted[2]

    def _text_rect(self) -> QRect:
        return self.rect().adjusted(2, 1, -2, -1)

    def _fit(self, rect: QRect) -> str:
        fm = self.fontMetrics()

        def fits(t: str) -> bool:
            return fm.boundingRect(rect, _FLAGS, t).height() <= rect.height()

        if fits(self._text):
            return self._text
        lo, hi = 0, len(self._text)  # the longest prefix that fits with the ellipsis
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(self._text[:mid].rstrip() + "…"):
                lo = mid
            else:
                hi = mid - 1
        return self._text[:lo].rstrip() + "…"

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawText(self._text_rect(), _FLAGS, self.shown_text())
        p.end()
