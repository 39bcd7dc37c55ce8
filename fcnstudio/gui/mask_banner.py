"""The strip above the canvas that says why a mask is read-only or a file did not open.

It observes the session: a read-only mask shows the reason and, when a
fix exists, a "Fix…" button (``fix_requested(code)``; the window decides
what fixing means). The window can also show a one-off message (a dataset
that did not open) until the next pair is shown.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from fcnstudio.core.checker.findings import FIXABLE
from fcnstudio.gui.app import observe

_STYLES = {
    "error": "background: #5c1f1f; color: #ffe0e0;",
    "warning": "background: #5a4a16; color: #fff3c4;",
    "info": "background: #1f3b5c; color: #dcebff;",
}


class MaskBanner(QFrame):
    fix_requested = pyqtSignal(str)

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("mask_banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.fix_button = QPushButton("Fix…")
        self.fix_button.clicked.connect(lambda: self.fix_requested.emit(self.code or ""))
        self.close_button = QToolButton(text="×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.fix_button)
        layout.addWidget(self.close_button)
        self.code: str | None = None
        self.level = "info"
        observe(self, [(session.pair_changed, self.refresh)])
        self.refresh()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def refresh(self) -> None:
        """Show what is wrong with the current pair, or hide."""
        s = self.session
        if s.load_errors:
            self._show("  ".join(s.load_errors), "error", None)
        elif s.read_only is not None:
            fix = s.read_only.code if s.read_only.code in FIXABLE else None
            self._show(f"Read-only: {s.read_only.message}", "warning", fix)
        elif s.project_error:
            self._show(f"fcnstudio.json was not used: {s.project_error}", "warning", None)
        else:
            self.code = None
            self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        """A one-off message (kept until the next pair is shown or the user hides it)."""
        self._show(text, level, None)

    def _show(self, text: str, level: str, code: str | None) -> None:
        self.code, self.level = code, level
        self.label.setText(text)
        self.setStyleSheet(f"#mask_banner {{ {_STYLES.get(level, _STYLES['info'])} }} "
                           f"#mask_banner QLabel {{ {_STYLES.get(level, _STYLES['info'])} }}")
        self.fix_button.setVisible(code is not None)
        self.fix_button.setToolTip(f"Convert this dataset's masks ({code})" if code else "")
        self.show()
