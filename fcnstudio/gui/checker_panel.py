"""The checker dock: run the label checker in the background, list its findings, fix them.

"Check dataset" (F5) runs :func:`~fcnstudio.core.checker.run.check_dataset` in a
:class:`~fcnstudio.gui.jobs.Job` with a progress bar and a
Cancel button. Findings are grouped by code (severity icon, colour, count);
the children are the files with their message; double-clicking one shows the
pair, centred on the finding's location when it has one. Below: the class
statistics (pixel share, masks with the class, suggested weights) and how the
classes were inferred when there is no fcnstudio.json. "Fix…" hands the code to
a :class:`~fcnstudio.gui.fix_dialog.FixFlow` (plan, confirm, apply, reload)
and checks again when it is done; the read-only banner's "Fix…" comes the same
way (``window.fix_handler``).

The panel owns no data: findings go to the session (``set_findings`` marks the
pair list), results to a :class:`~fcnstudio.gui.check_jobs.CheckResults`.
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtGui import QBrush
from PyQt6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fcnstudio.gui.app import observe
from fcnstudio.gui.check_jobs import CheckResults, check_work
from fcnstudio.gui.finding_views import COLORS, notes_html, severity_icon, stats_html
from fcnstudio.gui.fix_dialog import FixFlow
from fcnstudio.gui.jobs import Job

SHORTCUT = "F5"
#: Children listed under one code (the count says how many there are).
MAX_CHILDREN = 500
_ROLE = Qt.ItemDataRole.UserRole


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _same(a, b) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


class CheckerPanel(QWidget):
    #: a check ended: the CheckResult, or None (cancelled, failed)
    check_finished = pyqtSignal(object)
    #: a fix ended, after its re-check: the FixReport, or None (declined, cancelled, failed)
    fix_finished = pyqtSignal(object)

    def __init__(self, session, results: CheckResults | None = None, *, show_pair=None, ask=None, status=None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("checker_panel")
        self.session = session
        self.results = results if results is not None else CheckResults()
        self.show_pair = show_pair or (lambda name, location=None: False)
        self.status = status or (lambda text, ms=5000: None)
        self.fix = FixFlow(session, self.results, ask=ask, status=self.status, parent=self)
        self.fix.busy.connect(lambda text, cancellable: self._set_busy(text or None, cancellable))
        self.fix.progress.connect(self._on_progress)
        self.fix.checked.connect(self._show_if_current)
        self.fix.finished.connect(self._on_fix_finished)
        self.job: Job | None = None
        self._fix_report = None  # the report of a fix whose re-check is running
        self._idle_summary = ""

        self.check_button = QPushButton("Check dataset")
        self.check_button.setToolTip(f"Check every image and mask for label problems ({SHORTCUT})")
        self.check_button.clicked.connect(self.start_check)
        self.fix_button = QPushButton("Fix…")
        self.fix_button.setToolTip("Show what the fix for the selected finding changes, then apply it")
        self.fix_button.clicked.connect(self.fix_selected)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)  # the summary line says what is done (styles differ on bar text)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Finding", "Count"])
        self.tree.setUniformRowHeights(True)
        self.tree.setMinimumHeight(4 * (self.fontMetrics().height() + 4))  # a few findings, even in a short dock
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.tree.currentItemChanged.connect(self._on_current)
        self.detail = QTextBrowser()  # the whole message of the selected finding (the tree elides it)
        self.detail.setFixedHeight(4 * self.fontMetrics().height() + 12)  # fixed: rows must not move under a click
        self.detail.setPlaceholderText("Select a finding to read it in full.")
        self.stats = QTextBrowser()
        self._layout()
        observe(self, [(session.dataset_changed, self._on_dataset_changed)])
        if QApplication.instance() is not None:
            QApplication.instance().aboutToQuit.connect(self.shutdown)
        self._set_busy(None)
        self._on_dataset_changed()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.check_button, 1)
        top.addWidget(self.fix_button)
        self.busy_row = QWidget()
        row = QHBoxLayout(self.busy_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        findings = QWidget()
        column = QVBoxLayout(findings)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.tree, 1)
        column.addWidget(self.detail)
        self.tabs = QTabWidget()  # a dock is often short: findings and statistics take turns
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(findings, "Findings")
        self.tabs.addTab(self.stats, "Statistics")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.busy_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

    @property
    def workers(self) -> int | None:
        """Worker processes of a check (None: every core; 1: in the worker thread, no processes)."""
        return self.fix.workers

    @workers.setter
    def workers(self, value: int | None) -> None:
        self.fix.workers = value

    @property
    def busy(self) -> bool:
        """A check runs, or a fix is under way (planning, waiting for the user, writing)."""
        return self.job is not None or self.fix.active

    # ------------------------------------------------------------------ what is shown

    def _set_busy(self, text: str | None, cancellable: bool = True) -> None:
        self.busy_row.setVisible(text is not None)
        self.progress.setRange(0, 0)  # "working" until the first progress report
        self.summary.setText(text if text is not None else self._idle_summary)
        self.cancel_button.setEnabled(cancellable)
        self.check_button.setEnabled(not self.busy and self.session.dataset is not None)
        self._update_fix_button()

    def _on_progress(self, done: int, total: int, _loss: float = 0.0) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.summary.setText(f"Checking… {done:,} of {total:,} pairs")

    def _on_dataset_changed(self) -> None:
        root = self.session.dataset.root if self.session.dataset is not None else None
        result = self.results.get(root)
        self.show_result(result)
        if result is not None:
            self.session.set_findings(result.findings)
        self.check_button.setEnabled(not self.busy and root is not None)

    def show_result(self, result) -> None:
        """Fill the tree, the summary and the statistics from a CheckResult (None: not checked yet)."""
        self.tree.clear()
        self.detail.clear()
        if result is None:
            opened = self.session.dataset is not None
            self._idle_summary = f"Not checked yet: press Check dataset ({SHORTCUT})." if opened else "No dataset open."
            if opened and self.session.project is not None and self.session.project.inferred:
                self._idle_summary += " Classes inferred: see Statistics."
            self.summary.setText(self._idle_summary)
            self.stats.setHtml(notes_html(self.session.project))
            self._update_fix_button()
            return
        groups: dict[str, list] = {}
        for f in result.findings:
            groups.setdefault(f.code, []).append(f)
        for code, items in groups.items():
            self.tree.addTopLevelItem(self._code_item(code, items))
        self.tree.resizeColumnToContents(1)
        when = self.results.when(result.root)
        n = {sev: sum(1 for f in result.findings if f.severity == sev) for sev in COLORS}
        text = (f"{result.pairs:,} pairs: {_n(n['error'], 'error')}, {_n(n['warning'], 'warning')}, {n['info']} info"
                + (f" ({time.strftime('%H:%M', time.localtime(when))})" if when else ""))
        text += "" if result.findings else " · no problems found"
        self._idle_summary = text + (" · classes inferred: see Statistics" if result.project.inferred else "")
        self.summary.setText(self._idle_summary)
        self.stats.setHtml(stats_html(result) + notes_html(result.project))
        self._update_fix_button()

    def _code_item(self, code: str, items) -> QTreeWidgetItem:
        """code — severity icon and colour — count; children: the files with the message."""
        sev = items[0].severity
        count = sum(1 if f.path else max(1, len(f.files)) for f in items)  # files concerned
        top = QTreeWidgetItem([code, str(count)])
        top.setIcon(0, severity_icon(sev))
        top.setForeground(0, QBrush(COLORS[sev]))
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        top.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
        top.setData(0, _ROLE, ("code", code, items[0].fix))
        fix = " · Fix… shows what its fix changes" if items[0].fix else " · no automatic fix"
        top.setToolTip(0, f"{code}: {sev}, {_n(count, 'file')}{fix}\n\nFor example: {items[0].message}")
        for f in items[:MAX_CHILDREN]:
            if f.path:  # one file
                child = QTreeWidgetItem([f.message if f.path in f.message[:200] else f"{f.path} — {f.message}"])
                child.setData(0, _ROLE, ("file", f.path, f))
            else:  # the dataset: the files concerned below
                child = QTreeWidgetItem([f.message, ""])
                child.setData(0, _ROLE, ("finding", "", f))
                for rel in f.files[:MAX_CHILDREN]:
                    leaf = QTreeWidgetItem([rel, ""])
                    leaf.setData(0, _ROLE, ("file", rel, f))
                    leaf.setToolTip(0, f.message)
                    child.addChild(leaf)
            child.setToolTip(0, f.message)
            top.addChild(child)
            child.setFirstColumnSpanned(True)  # file and message get the whole width; counts stay narrow
        if len(items) > MAX_CHILDREN:
            top.addChild(QTreeWidgetItem([f"… and {len(items) - MAX_CHILDREN:,} more", ""]))
        return top

    def _selected_fix(self) -> str | None:
        item = self.tree.currentItem()
        data = item.data(0, _ROLE) if item is not None else None
        if data is None:
            return None
        return data[2] if data[0] == "code" else data[2].fix

    def _update_fix_button(self) -> None:
        code = self._selected_fix()
        self.fix_button.setEnabled(code is not None and not self.busy)
        self.fix_button.setText(f"Fix {code}…" if code else "Fix…")

    def _on_current(self, item, _previous) -> None:
        data = item.data(0, _ROLE) if item is not None else None
        self.detail.setPlainText("" if data is None else item.toolTip(0) if data[0] == "code" else data[2].message)
        self._update_fix_button()

    def _on_double_click(self, item, _column) -> None:
        data = item.data(0, _ROLE)
        if data is None or data[0] != "file":
            return
        finding = data[2]
        location = finding.location if data[1] == finding.path else None
        if not self.show_pair(data[1], location):
            self.status(f"{data[1]} is not a pair of the open dataset", 5000)

    def _show_if_current(self, result) -> None:
        if self.session.dataset is not None and _same(self.session.dataset.root, result.root):
            self.show_result(result)
            self.session.set_findings(result.findings)

    # ------------------------------------------------------------------ checking

    def start_check(self) -> bool:
        """Check the open dataset in the background; False when busy or nothing is open."""
        ds = self.session.dataset
        if ds is None or self.busy:
            return False
        job = Job(check_work(ds.root, self.workers), "check", parent=self)
        job.progress.connect(self._on_progress)
        job.result.connect(self._checked)
        job.failed.connect(lambda err: self._check_ended(None, f"The check failed: {err.reason}"))
        job.cancelled.connect(lambda: self._check_ended(None, "Check cancelled."))
        job.finished.connect(job.deleteLater)
        self.job = job
        self._set_busy(f"Checking {ds.name}…")
        job.start()
        return True

    def cancel(self) -> None:
        """Stop the check (within a second) or the planning of a fix; writing a fix is not interrupted."""
        job = self.job or self.fix.job
        if job is not None and job.cancellable:
            job.cancel()
            self.summary.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _checked(self, result) -> None:
        self.results.put(result)
        self._show_if_current(result)
        self._check_ended(result, None)

    def _check_ended(self, result, message: str | None) -> None:
        self.job = None  # the job's thread has stopped (a Job emits after joining it)
        self._set_busy(None)
        if message:
            self.summary.setText(message)
            self.status(message, 10000)
        self.check_finished.emit(result)
        if self._fix_report is not None:
            report, self._fix_report = self._fix_report, None
            done = f"Fixed {report.plan.code} in {_n(len(report.written), 'mask')}"
            if report.backup_dir is not None:
                done += f" (originals in {Path(report.backup_dir).relative_to(report.plan.root).as_posix()})"
            self.summary.setText(f"{done}. {self.summary.text()}")
            self.fix_finished.emit(report)

    # ------------------------------------------------------------------ fixing

    def fix_selected(self) -> None:
        code = self._selected_fix()
        if code is not None:
            self.request_fix(code)

    def request_fix(self, code: str, session=None) -> bool:
        """Plan, confirm and apply the fix for ``code``, then check again (the window's ``fix_handler``)."""
        if self.busy:
            self.status("A check or a fix is running: wait for it or cancel it first.", 5000)
            return False
        return self.fix.start(code)

    def _on_fix_finished(self, report) -> None:
        self._set_busy(None)
        if report is None:
            self.fix_finished.emit(None)
            return
        self._fix_report = report
        if not self.start_check():  # the re-check shows the fixed codes gone
            self._check_ended(None, None)

    # ------------------------------------------------------------------ lifetime

    def shutdown(self) -> None:
        """Stop the check and the fix, and wait for their threads (the window is closing)."""
        self.fix.shutdown()
        job, self.job = self.job, None
        if job is not None:
            job.shutdown(10000)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and obj is self.window():
            self.shutdown()
        return False
