"""A fix as the user goes through it: the plan, the confirmation, unsaved edits, the writing, the reload.

:class:`FixDialog` shows a :class:`~fcnstudio.core.fixes.FixPlan` (the dry
run: which files, how many pixels, where the originals go) and owns nothing
else; it is accepted when the user chose "Apply fix", and
:attr:`FixDialog.backup` says whether the originals are kept.

:class:`FixFlow` (a QObject, no widget) runs the steps: plan in a
:class:`~fcnstudio.gui.jobs.Job`, show the dialog
(window-modal, no nested event loop), settle the unsaved edits of a mask the
fix rewrites (saved or dropped only on the user's word), apply with a backup in
another job, reload what changed. The checker dock drives it and re-checks.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fcnstudio.core.checker.findings import FIXABLE
from fcnstudio.core.fixes import BACKUP_DIR
from fcnstudio.core.session import ASK_DISCARD, ASK_SAVE, SessionError
from fcnstudio.gui.check_jobs import apply_work, plan_work
from fcnstudio.gui.jobs import Job

#: What the fix of each code does, in a sentence.
WHAT_IT_DOES = {
    "binary-255": "255 becomes class 1 (0 stays background): the masks then hold class indices 0/1.",
    "color-mask": "Each colour becomes its class index; the classes and the colour → class map are saved in "
                  "fcnstudio.json.",
    "lossy-mask": "Every pixel is snapped to the nearest class value of its mask (JPEG noise removed); "
                  "masks are written as PNG.",
    "interpolation-artifacts": "In-between values along class borders take the class of their neighbours.",
    "inconsistent-encoding": "Every mask is converted to class indices, so all masks store classes the same way.",
    "non-integer-mask": "Floating-point values are rounded to whole class indices.",
}
#: What to do about codes the banner offers to fix but that have no automatic fix.
NO_FIX = {
    "label-out-of-range": "This mask holds values past the project's classes. Add the missing classes in the "
                          "Classes dock, set ignore_index in fcnstudio.json if the value means 'ignore', or "
                          "correct the masks where they were made.",
    "mask-16bit": "Re-save the masks as 8-bit PNG (their values fit in 8 bits).",
}
#: Most files listed (a fix of 10,000 masks still opens at once; the count says how many there are).
MAX_ROWS = 2000


def _pct(part: int, whole: int) -> str:
    if not whole:
        return ""
    share = 100.0 * part / whole
    return f"{share:.2g} %" if share < 10 else f"{share:.0f} %"


class FixDialog(QDialog):
    def __init__(self, plan, parent: QWidget | None = None, dataset_name: str | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        writes, refused = plan.writes, plan.refused
        name = dataset_name or plan.root.name
        self.setWindowTitle(f"Fix {plan.code}")
        self.setObjectName("fix_dialog")

        changed = sum(f.changed for f in writes)
        pixels = sum(f.pixels for f in writes)
        if writes:
            head = (f"<b>Fix {plan.code}</b> in <b>{name}</b>: {len(writes)} mask(s) will be rewritten, "
                    f"{changed:,} of {pixels:,} pixels change ({_pct(changed, pixels)}).")
        else:
            head = f"<b>Fix {plan.code}</b> in <b>{name}</b>: no mask can be changed automatically."
        if refused:
            head += f" {len(refused)} file(s) are left alone (see below)."
        self.summary = QLabel(head)
        self.summary.setWordWrap(True)
        self.what = QLabel(WHAT_IT_DOES.get(plan.code, ""))
        self.what.setWordWrap(True)

        rows = list(writes) + list(refused)
        shown = rows[:MAX_ROWS]
        self.table = self._file_table(rows)

        notes = list(plan.notes)
        if any(f.target != f.path for f in writes):
            notes.append("Masks that are not PNG are written as <stem>.png; the old file is removed once the new "
                         "one is written.")
        self.notes = QLabel("\n".join(notes))
        self.notes.setWordWrap(True)
        self.notes.setVisible(bool(notes))
        if plan.heuristic:
            self.notes.setStyleSheet("color: #a05a00;")

        self.backup_box = QCheckBox(f"Keep the originals in {BACKUP_DIR}/<date-time>/ inside the dataset (recommended)")
        self.backup_box.setChecked(True)
        self.backup_box.setVisible(bool(writes))

        if writes:
            self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
            self.apply_button = self.buttons.addButton("Apply fix", QDialogButtonBox.ButtonRole.AcceptRole)
            self.apply_button.setDefault(True)
        else:
            self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            self.apply_button = None
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        for w in (self.summary, self.what, self.table, self.notes, self.backup_box, self.buttons):
            layout.addWidget(w)
        self.resize(760, min(620, 220 + 26 * len(shown)))

    def _file_table(self, rows) -> QTableWidget:
        """One row per planned file (at most MAX_ROWS): the mask, how many pixels change, what changes."""
        shown = rows[:MAX_ROWS]
        table = QTableWidget(len(shown) + (1 if len(rows) > MAX_ROWS else 0), 3)
        table.setHorizontalHeaderLabels(["Mask", "Pixels changed", "What changes"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(False)
        grey = QBrush(QColor(130, 130, 130))
        for r, f in enumerate(shown):
            mask = f.path if f.target == f.path else f"{f.path} → {f.target}"
            if f.refused is None:
                cells = (mask, f"{f.changed:,} of {f.pixels:,} ({_pct(f.changed, f.pixels)})", f.note)
            else:
                cells = (mask, "not changed", f.refused)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if c == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if f.refused is not None:
                    item.setForeground(grey)
                table.setItem(r, c, item)
        if len(rows) > MAX_ROWS:
            table.setItem(len(shown), 0, QTableWidgetItem(f"… and {len(rows) - MAX_ROWS:,} more"))
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        return table

    @property
    def backup(self) -> bool:
        """Copy the originals to the backup folder before writing (the default)."""
        return self.backup_box.isChecked()

    def rows(self) -> list[tuple[str, str, str]]:
        """The table as text (mask, pixels changed, what changes), for tests and screen readers."""
        out = []
        for r in range(self.table.rowCount()):
            out.append(tuple(self.table.item(r, c).text() if self.table.item(r, c) else "" for c in range(3)))
        return out


def _same(a, b) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


class FixFlow(QObject):
    """One fix at a time, from "Fix…" to the reloaded masks (see the module doc)."""

    #: what is being done ("" when the flow waits for the user or is idle), and whether Cancel applies
    busy = pyqtSignal(str, bool)
    progress = pyqtSignal(int, int, float)
    #: a CheckResult the plan had to compute (it is also put in ``results``)
    checked = pyqtSignal(object)
    #: the flow ended: the FixReport (masks written, reloaded; a re-check is due), or None
    finished = pyqtSignal(object)

    def __init__(self, session, results, *, ask=None, status=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.results = session, results
        self.ask = ask
        self.status = status or (lambda text, ms=5000: None)
        self.workers: int | None = None
        self.job: Job | None = None
        self.dialog: FixDialog | None = None

    @property
    def active(self) -> bool:
        return self.job is not None or self.dialog is not None

    def start(self, code: str) -> bool:
        """Plan the fix for ``code`` in the background; the dialog follows. False when nothing started."""
        s = self.session
        if s.dataset is None or not code or self.active:
            return False
        if code not in FIXABLE:
            QMessageBox.information(self._parent(), "No automatic fix",
                                    NO_FIX.get(code, f"There is no automatic fix for '{code}'."))
            return False
        root = s.dataset.root
        cached = self.results.get(root)
        source = cached if cached is not None and code in cached.codes() else None
        if s.dirty and (source is None or self._current_rel() in source.files_with(code)):
            # settle the edits first, so that the plan (and the user) sees the mask that will be fixed
            answer = self._save_or_discard(f"{s.pair.name} has unsaved edits, and the {code} fix may rewrite its "
                                           "mask.\n\nSave the edits first (the fix then works on the saved mask), "
                                           "discard them, or cancel the fix.")
            if answer is None:
                self._end(None, "Fix not started: the unsaved edits were kept.")
                return False
            if answer == ASK_SAVE:
                source = None  # the mask on disk changed: plan from a fresh check
        self._run(Job(plan_work(root, code, source, self.workers), "fix-plan", parent=self),
                  f"Working out what the {code} fix changes…", lambda plan: self._confirm(plan, source))
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """The window is closing: close the dialog, wait for the job (a fix being written is finished)."""
        if self.dialog is not None:
            self.dialog.reject()
        job, self.job = self.job, None
        if job is not None:
            job.shutdown(60000 if not job.cancellable else 10000)

    # ------------------------------------------------------------------ steps

    def _parent(self):
        parent = self.parent()
        return parent.window() if parent is not None and hasattr(parent, "window") else None

    def _run(self, job: Job, text: str, ok) -> None:
        self.job = job
        job.progress.connect(self.progress)
        job.result.connect(lambda value: self._step_done(job) and ok(value))
        job.failed.connect(lambda err: self._step_done(job) and self._end(None, f"The fix failed: {err.reason}"))
        job.cancelled.connect(lambda: self._step_done(job) and self._end(None, "Fix cancelled."))
        job.finished.connect(job.deleteLater)
        self.busy.emit(text, job.cancellable)
        job.start()

    def _step_done(self, job) -> bool:
        """The job's thread has stopped: free the slot for the next step. False for a job already dropped."""
        if self.job is not job:
            return False
        self.job = None
        return True

    def _confirm(self, plan, source) -> None:
        if plan.result is not source:  # a fresh check was run to plan: show it
            self.results.put(plan.result)
            self.checked.emit(plan.result)
        if not plan.files:
            QMessageBox.information(self._parent(), "Nothing to fix",
                                    f"No file of this dataset has the '{plan.code}' problem now.")
            return self._end(None, None)
        dialog = FixDialog(plan, self._parent(), self.session.dataset.name if self.session.dataset else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda code: self._confirmed(plan, code == FixDialog.DialogCode.Accepted, dialog.backup))
        self.dialog = dialog
        self.busy.emit("", False)
        dialog.open()

    def _confirmed(self, plan, accepted: bool, backup: bool) -> None:
        self.dialog = None
        if not accepted or not plan.writes:
            return self._end(None, "Fix not applied.")
        if not self._settle_edits(plan):
            return self._end(None, "Fix not applied: the unsaved edits were kept.")
        self._run(Job(apply_work(plan, backup), "fix", cancellable=False, parent=self),
                  f"Fixing {len(plan.writes)} mask(s)…", lambda report: self._applied(plan, report))

    def _applied(self, plan, report) -> None:
        self.results.forget(plan.root)
        s = self.session
        if s.dataset is not None and _same(s.dataset.root, plan.root):
            structural = report.project_file is not None or bool(report.removed)  # classes or file names changed
            touches = self._touches_current(plan, list(report.written) + list(report.removed))
            if (structural or touches) and s.resolve_unsaved(self.ask, autosave=False):
                if structural:
                    s.open(s.dataset.root, s.index)
                if touches:
                    s.reload()  # also drops the undo history of the mask as it was
            s.forget_history(list(report.written) + list(report.removed))  # the other rewritten masks
        if report.errors:
            QMessageBox.warning(self._parent(), "Some masks were not fixed", "\n".join(report.errors[:20]))
        self._end(report, f"Fixed {plan.code} in {len(report.written)} mask(s)"
                  + (f"; originals in {report.backup_dir}" if report.backup_dir else ""))

    def _end(self, report, message: str | None) -> None:
        if message:
            self.status(message, 15000 if report is not None else 8000)
        self.busy.emit("", False)
        self.finished.emit(report)

    # ------------------------------------------------------------------ unsaved edits

    def _current_rel(self) -> str | None:
        s = self.session
        return s.dataset.relative(s.pair.mask) if s.pair is not None and s.pair.mask is not None else None

    def _touches_current(self, plan, paths=None) -> bool:
        if self.session.dataset is None or not _same(self.session.dataset.root, plan.root):
            return False
        paths = paths if paths is not None else [p for f in plan.writes for p in (f.path, f.target)]
        rel = self._current_rel()
        return rel is not None and rel in paths

    def _settle_edits(self, plan) -> bool:
        """Before writing: a mask the fix rewrites is saved or dropped only on the user's word."""
        s = self.session
        if not s.dirty or not _same(s.dataset.root, plan.root):
            return True
        if not self._touches_current(plan):
            renames = any(f.target != f.path for f in plan.writes)
            return s.resolve_unsaved(self.ask) if (plan.saves_project or renames) else True
        return self._save_or_discard(f"{s.pair.name} has unsaved edits, and the fix rewrites its mask.\n\n"
                                     "Save the edits first (the fix then converts the saved mask), discard them, "
                                     "or cancel the fix.") is not None

    def _save_or_discard(self, message: str) -> str | None:
        """Ask Save / Discard / Cancel about the current pair's edits and do it: the answer, None to stop."""
        if self.ask is None:
            return None
        answer = self.ask(message, True)
        try:
            if answer == ASK_SAVE:
                self.session.save()
            elif answer == ASK_DISCARD:
                self.session.discard()
            else:
                return None
        except (SessionError, OSError) as exc:
            QMessageBox.warning(self._parent(), "Not saved", f"{exc}\n\nThe fix was not applied.")
            return None
        return answer
