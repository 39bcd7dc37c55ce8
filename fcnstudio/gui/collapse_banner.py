"""The strip at the top of the training panel that says, in plain words, what went wrong.

It shows a monitor warning (output collapsed to background, a class never
predicted, the loss not a number …) or a refused start (the label check found
errors): a headline, the diagnosis, and one button per suggested fix. A button
emits ``action_requested(action)`` with the suggestion's action dict, e.g.
``{"loss": "dice+ce"}``, ``{"lr": 1e-4}``, ``{"class_weights": "auto"}``,
``{"open_checker": True}``, or ``{"fix": code}`` for a checker fix; the panel
decides what applying it means (change the setting and restart). The banner
holds no training state: :meth:`show_warning` / :meth:`show_problem` replace
what it shows, :meth:`clear` hides it.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from fcnstudio.core.checker.findings import FIXABLE

__all__ = ["CollapseBanner"]

_STYLES = {
    "error": "background: #5c1f1f; color: #ffe0e0;",
    "warning": "background: #6a3d10; color: #fff0d8;",
    "info": "background: #1f3b5c; color: #dcebff;",
}
HEADLINES = {
    "collapse-background": "The network predicts only background.",
    "collapse-single-class": "The network predicts one class everywhere.",
    "class-never-predicted": "A class is never predicted.",
    "loss-nan": "The loss is not a number any more.",
    "loss-diverging": "Training is diverging: the steps are too large.",
    "loss-plateau": "The loss has stopped improving.",
}


class CollapseBanner(QFrame):
    action_requested = pyqtSignal(object)
    #: the user hid the message with its close button (its code)
    dismissed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collapse_banner")
        self.code: str | None = None
        self.level = "warning"
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        f = self.headline.font()
        f.setBold(True)
        self.headline.setFont(f)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.diagnosis = QLabel()
        self.diagnosis.setWordWrap(True)
        self.buttons: list[QPushButton] = []
        self._button_row = QHBoxLayout()
        self._button_row.setContentsMargins(0, 2, 0, 0)
        self._button_row.addStretch(1)
        self.close_button = close = QToolButton(text="×")
        close.setAutoRaise(True)
        close.setToolTip("Hide this message (the run's history keeps it)")
        close.clicked.connect(self._dismiss)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.headline)
        text.addWidget(self.message)
        text.addWidget(self.diagnosis)
        text.addLayout(self._button_row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addLayout(text, 1)
        layout.addWidget(close)
        self.hide()

    @property
    def showing(self) -> bool:
        return self.code is not None

    def show_warning(self, ev) -> None:
        """Show a monitor :class:`~fcnstudio.train.events.WarningEvent` and its suggestions."""
        headline = HEADLINES.get(ev.code, "Training needs attention.")
        self.show_problem(ev.code, headline, ev.message, ev.diagnosis,
                          [(s.label, dict(s.action)) for s in ev.suggestions], "warning")

    def show_problem(self, code: str, headline: str, message: str = "", diagnosis: str = "",
                     suggestions=(), level: str = "error") -> None:
        """Show any problem: ``suggestions`` is a list of ``(button text, action dict)``."""
        self.code, self.level = code, level
        self.headline.setText(headline)
        self.message.setText(message)
        self.message.setToolTip("")
        self.message.setVisible(bool(message))
        self.diagnosis.setText(f"Why: {diagnosis}" if diagnosis else "")
        self.diagnosis.setVisible(bool(diagnosis))
        for b in self.buttons:
            self._button_row.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        for i, (label, action) in enumerate(suggestions):
            b = QPushButton(label)
            b.setToolTip("Apply this and restart training" if _restarts(action) else label)
            b.clicked.connect(lambda _=False, a=dict(action): self.action_requested.emit(a))
            self._button_row.insertWidget(i, b)
            self.buttons.append(b)
        style = _STYLES.get(level, _STYLES["warning"])
        self.setStyleSheet(f"#collapse_banner {{ {style} }} #collapse_banner QLabel {{ {style} }}")
        self.show()

    def show_refusal(self, message: str, findings=()) -> None:
        """A start the trainer refused; with the pre-flight's error findings: one line and a Fix button per code."""
        if not findings:
            self.show_problem("refused", "Training did not start.", message, level="error")
            return
        lines, buttons = [], []
        for code in sorted({f.code for f in findings}):
            fs = [f for f in findings if f.code == code]
            files = sorted({p for f in fs for p in (f.files or (f.path,)) if p})
            text = fs[0].message if len(fs[0].message) <= 160 else fs[0].message[:157].rstrip() + "…"
            more = f" (+{len(files) - 2} more)" if len(files) > 2 else ""
            lines.append(f"• {code}: {text}  [{', '.join(files[:2])}{more}]")
            if code in FIXABLE or any(f.fix for f in fs):
                buttons.append((f"Fix {code}…", {"fix": code}))
        buttons.append(("Open the label checker", {"open_checker": True}))
        self.show_problem("preflight", "Training did not start: the label check found errors that would make the "
                          "network learn the wrong thing. Fix them, then press Start again.",
                          "\n".join(lines), "", buttons, "error")
        self.message.setToolTip(message)

    def _dismiss(self) -> None:
        code = self.code or ""
        self.clear()
        self.dismissed.emit(code)

    def clear(self, code: str | None = None) -> None:
        """Hide; with ``code``, only when that is what the banner shows."""
        if code is not None and code != self.code:
            return
        self.code = None
        self.hide()


def _restarts(action: dict) -> bool:
    return any(k in action for k in ("loss", "lr", "class_weights"))
