"""A few wrapped lines of status text that change several times a second without re-laying out the dock,
and the clock its progress lines use.

A QLabel whose text changes asks its layout to recompute (and with it the
whole window's) at every change; this widget has a fixed height and only
repaints itself.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

__all__ = ["StatusText", "clock_text"]


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (a duration or an ETA)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class StatusText(QWidget):
    """Up to three wrapped lines of text that change a few times a second without re-laying out the dock."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._text = text
        self.setFixedHeight(3 * self.fontMetrics().lineSpacing() + 4)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.setToolTip(text)
            self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawText(self.rect().adjusted(2, 1, -2, -1), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                                                          | Qt.TextFlag.TextWordWrap), self._text)
        p.end()
