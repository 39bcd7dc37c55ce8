"""Recovered edits after a crash: the restore dialog, and the timer that keeps the journal.

:func:`install_recovery` builds the window's
:class:`~fcnstudio.core.recovery.follower.SessionFollower` next to its session,
with a timer that ticks it (the follower writes the journal at most every few
seconds, and only when pixels changed), and, each time a dataset is
opened, offers what an earlier run left unsaved: :class:`RecoveryDialog`
lists it pair by pair -- a thumbnail of the edited region, the pair's name,
how many pixels restoring changes, when the journal was written, and a
warning when the mask file changed on disk since -- with Restore or Discard
for each. Restored pixels come back as one unsaved, undoable step; the user
then saves. "Decide later" keeps the journals for the next time.
"""

from __future__ import annotations

import html
import sys
import time

import numpy as np
from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QMessageBox,
                             QPushButton, QRadioButton, QScrollArea, QVBoxLayout, QWidget)

from fcnstudio.core.io import ImageReadError, read_image
from fcnstudio.core.recovery.follower import RecoveryError, RecoveryPreview, SessionFollower
from fcnstudio.core.recovery.journal_file import JournalEntry
from fcnstudio.gui.app import observe

#: How often the window ticks the follower (which writes the journal at most every INTERVAL_S seconds).
TICK_MS = 1000
THUMB = 136
RESTORE, DISCARD = "restore", "discard"


# ---------------------------------------------------------------------- thumbnails


def _grey8(image: np.ndarray) -> np.ndarray:
    """Any decoded image as HxWx3 uint8 for display (16-bit/float stretched to its range)."""
    img = image if image.ndim == 3 else image[:, :, None]
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        f = np.nan_to_num(img.astype(np.float32))
        lo, hi = float(f.min()), float(f.max())
        img = ((f - lo) * (255.0 / (hi - lo if hi > lo else 1.0))).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


def thumbnail(preview: RecoveryPreview, image: np.ndarray | None, colors, size: int = THUMB) -> QImage:
    """The journal's box (plus a margin) over its image: changed pixels in their class colour, solid.

    Unchanged labelled pixels are tinted; a changed pixel whose class colour is
    black (background: an erased area) is drawn white so it shows.
    """
    e = preview.entry
    h, w = e.shape
    m = max(6, int(0.15 * max(e.rect.height, e.rect.width)))
    y0, x0, y1, x1 = max(0, e.rect.y0 - m), max(0, e.rect.x0 - m), min(h, e.rect.y1 + m), min(w, e.rect.x1 + m)
    if image is not None and image.shape[:2] == (h, w):
        rgb = _grey8(image[y0:y1, x0:x1]).astype(np.float32) * 0.6
    else:
        rgb = np.full((y1 - y0, x1 - x0, 3), 60, np.float32)
    lut = np.zeros((65536, 3), np.float32)
    for i, c in enumerate(colors[:65536]):
        lut[i] = c
    inner = (slice(e.rect.y0 - y0, e.rect.y1 - y0), slice(e.rect.x0 - x0, e.rect.x1 - x0))
    vals = preview.values
    col = lut[vals]
    labelled = (vals != 0)[..., None]
    box = rgb[inner]
    box[:] = np.where(labelled, box * 0.7 + col * 0.3, box)
    diff = preview.diff
    solid = np.where((col.sum(axis=2) < 60)[..., None], 255.0, col)
    box[diff] = solid[diff]
    out = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))
    qimg = QImage(out.data, out.shape[1], out.shape[0], out.strides[0], QImage.Format.Format_RGB888).copy()
    mode = (Qt.TransformationMode.FastTransformation if max(out.shape[:2]) < size
            else Qt.TransformationMode.SmoothTransformation)
    return qimg.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)


def _ago(t: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    s = max(0, int(now - t))
    if s < 90:
        rel = f"{s} s ago"
    elif s < 90 * 60:
        rel = f"{s // 60} min ago"
    elif s < 36 * 3600:
        rel = f"{s // 3600} h ago"
    else:
        rel = f"{s // 86400} days ago"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t))} ({rel})"


# ---------------------------------------------------------------------- the dialog


class RecoveryDialog(QDialog):
    """Restore or discard each pair's recovered edits; ``choices()`` after ``exec()`` returns Accepted.

    ``items`` holds a :class:`RecoveryPreview` per readable journal, or
    ``(JournalEntry, message)`` for one whose pixels cannot be read (it can
    only be discarded). ``thumbs`` maps an entry to its :class:`QImage`.
    """

    def __init__(self, items, thumbs: dict | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recovery_dialog")
        self.setWindowTitle("Recover unsaved edits")
        self._groups: list[tuple[JournalEntry, QButtonGroup]] = []
        n = len(items)
        intro = QLabel(
            f"<b>FCN Studio was closed while {'this mask' if n == 1 else f'these {n} masks'} had unsaved edits.</b><br>"
            "Restore puts the edits back into the editor as one step you can undo; save (Ctrl+S) to keep them. "
            "Discard deletes them.")
        intro.setWordWrap(True)
        rows = QWidget()
        rows_layout = QVBoxLayout(rows)
        rows_layout.setContentsMargins(0, 0, 0, 0)
        for item in items:
            rows_layout.addWidget(self._row(item, (thumbs or {}).get(self._entry(item))))
        rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(rows)
        scroll.setMinimumHeight(min(len(items), 3) * (THUMB + 24))
        self.buttons = QDialogButtonBox()
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setObjectName("recovery_apply")
        self.apply_button.setDefault(True)
        self.later_button = self.buttons.addButton("Decide later", QDialogButtonBox.ButtonRole.RejectRole)
        self.later_button.setToolTip("Keep the recovered edits; they are offered again when this dataset is opened")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        if n > 1:
            all_row = QHBoxLayout()
            for text, action in (("Restore all", RESTORE), ("Discard all", DISCARD)):
                b = QPushButton(text)
                b.clicked.connect(lambda _=False, a=action: self.set_all(a))
                all_row.addWidget(b)
            all_row.addStretch(1)
            layout.addLayout(all_row)
        layout.addWidget(self.buttons)
        self.resize(640, self.sizeHint().height())

    @staticmethod
    def _entry(item) -> JournalEntry:
        return item.entry if isinstance(item, RecoveryPreview) else item[0]

    def _row(self, item, thumb: QImage | None) -> QWidget:
        entry = self._entry(item)
        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(frame)
        pic = QLabel()
        pic.setFixedSize(THUMB, THUMB)
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pic.setStyleSheet("background: #202020;")
        if thumb is not None:
            pic.setPixmap(QPixmap.fromImage(thumb))
        row.addWidget(pic)
        r = entry.rect
        lines = [f"<b>{html.escape(entry.name)}</b>"]
        warn = []
        if isinstance(item, RecoveryPreview):
            lines.append(f"{item.changed:,} pixel{'s' if item.changed != 1 else ''} to restore "
                         f"in a {r.width}×{r.height} region at x {r.x0}, y {r.y0}")
            if item.disk_changed:
                warn.append("The mask file changed on disk after these edits began (saved by another program or "
                            "window?). Restoring writes the recovered pixels over it in this region.")
            if item.note:
                warn.append(item.note)
        else:
            warn.append(f"Cannot be restored: {item[1]}")
        lines.append(f"<span style='color: gray'>Journal written {html.escape(_ago(entry.written))}</span>")
        lines += [f"<span style='color: #c77800'>⚠ {html.escape(w)}</span>" for w in warn]
        text = QLabel("<br>".join(lines))
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setObjectName("recovery_text")
        row.addWidget(text, 1)
        choice = QVBoxLayout()
        group = QButtonGroup(frame)
        restore, discard = QRadioButton("Restore"), QRadioButton("Discard")
        group.addButton(restore)
        group.addButton(discard)
        can_restore = isinstance(item, RecoveryPreview) and item.changed > 0 and not item.note
        restore.setEnabled(can_restore)
        (restore if can_restore else discard).setChecked(True)
        choice.addWidget(restore)
        choice.addWidget(discard)
        choice.addStretch(1)
        row.addLayout(choice)
        self._groups.append((entry, group))
        return frame

    def set_all(self, action: str) -> None:
        for _entry, group in self._groups:
            restore, discard = group.buttons()
            (restore if action == RESTORE and restore.isEnabled() else discard).setChecked(True)

    def choices(self) -> list[tuple[JournalEntry, str]]:
        """``(entry, "restore" | "discard")`` for every row, in the order shown."""
        return [(e, RESTORE if g.buttons()[0].isChecked() else DISCARD) for e, g in self._groups]


def choose(parent, items, thumbs) -> list[tuple[JournalEntry, str]] | None:
    """Show the dialog; the choices, or None for "Decide later". Tests replace this function."""
    dialog = RecoveryDialog(items, thumbs, parent)
    try:
        return dialog.choices() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


# ---------------------------------------------------------------------- the window side


class RecoveryController(QObject):
    """Follows the window's session into the journal while the window is shown, and offers recovered edits on open."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        #: journals the session's unsaved edits to <dataset>/.fcnstudio/recovery/; restores them after a crash
        self.follower = SessionFollower(window.session)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self._reported_error: str | None = None
        self._offer_pending = False
        #: how many times the journals were looked at (once per dataset opened)
        self.offers = 0
        self._restored_note = False  # the banner says "Restored ... Save to keep them"
        observe(window, [(window.session.dataset_changed, self._schedule_offer),
                         (window.session.status_changed, self._on_status)])

    def tick(self) -> None:
        if not self.window.isVisible():  # closed (the session was shut down) or not shown yet
            return
        self.follower.tick()
        error = self.follower.error
        if error and error != self._reported_error:
            self.window.show_status(error, 15000)
        self._reported_error = error

    def _on_status(self) -> None:
        if self._restored_note and not self.window.session.dirty:  # saved or undone: the note is out of date
            self._restored_note = False
            self.window.banner.refresh()

    def _schedule_offer(self) -> None:
        if not self._offer_pending:
            self._offer_pending = True
            QTimer.singleShot(0, self.offer)

    def offer(self) -> None:
        """Offer the journals an earlier run left for this dataset (nothing happens when there are none)."""
        self._offer_pending = False
        entries, problems = self.follower.entries()
        for text in problems:
            self.window.show_status(text, 15000)
            print(f"fcnstudio: {text}", file=sys.stderr)
        if entries:
            items, thumbs = self._items(entries)
            choices = choose(self.window, items, thumbs)
            self.window.activateWindow()  # keyboard focus back to the editor (Ctrl+S, Ctrl+Z)
            if choices is None:
                self.window.show_status("Recovered edits kept: they are offered again when this dataset is opened.",
                                        15000)
            else:
                self._apply(choices)
        self.offers += 1

    def _items(self, entries):
        session = self.window.session
        colors = session.project.colors if session.project is not None else []
        items, thumbs = [], {}
        for entry in entries:
            try:
                preview = self.follower.preview(entry)
            except ValueError as exc:
                items.append((entry, str(exc)))
                continue
            items.append(preview)
            image = None
            index = self.follower.pair_index(entry)
            path = session.dataset.pairs[index].image if index is not None else None
            if path is not None:
                try:
                    image = read_image(path)
                except ImageReadError:
                    image = None
            thumbs[entry] = thumbnail(preview, image, colors)
        return items, thumbs

    def _apply(self, choices) -> None:
        done = []
        for entry, action in choices:
            if action == DISCARD:
                self.follower.discard(entry)
        for entry, action in choices:
            if action != RESTORE:
                continue
            try:
                count = self.follower.restore(entry, self.window.ask)
            except RecoveryError as exc:
                QMessageBox.warning(self.window, "Could not restore", str(exc))
                continue
            if count:
                done.append(f"{entry.name} ({count:,} pixels)")
        if done:
            self.window.banner.show_message(
                f"Restored unsaved edits of {', '.join(done)} from the recovery journal. "
                "Save (Ctrl+S) to keep them; Undo (Ctrl+Z) takes them out again.", "info")
            self._restored_note = True


def install_recovery(window) -> RecoveryController:
    """Journal ``window``'s unsaved edits and offer recovered ones whenever a dataset is opened."""
    return RecoveryController(window)
