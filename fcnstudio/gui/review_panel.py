"""The Review dock: start a label review, pick one, and work through its regions.

Top to bottom: which review (the dataset's finished reviews, newest first),
its settings (folds, minutes or steps per fold) with *Find label errors* and
*Cancel*, the progress (fold i of K, ETA); then the verdict — when the fold
models are too weak the dock says so with the reason, and the regions stay
hidden unless *Show the regions anyway* is pressed — and the folds whose model
collapsed, whose images are not ranked; then the list (by image, or every
region in one queue), the selected region (its kind and both class names),
the buttons (previous, next, accept, dismiss, the prediction layer), how many
regions are left, and *Train again*.

The buttons are the window's actions (:mod:`.review_menu`), so a key and a
click do the same. The dock shows a :class:`~fcnstudio.core.review.ReviewQueue`
it is given and keeps nothing of it: the controller (:mod:`.review_controller`)
does the work.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                             QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from fcnstudio.core.review import ALL_REGIONS, BY_IMAGE
from fcnstudio.gui.review_job import progress_fraction, progress_text
from fcnstudio.gui.review_list import ReviewList
from fcnstudio.gui.review_settings import ReviewSettings
from fcnstudio.gui.status_text import StatusText

__all__ = ["ReviewPanel"]

GATE_STYLE = "QLabel { background: #fff3cd; color: #5c4400; border: 1px solid #e0c060; padding: 4px; }"
#: the action buttons (keys of the actions dict) in their rows
ROWS = (("find", "cancel"), ("previous", "next", "accept", "dismiss"), ("layer", "train_again"))
EMPTY = "No review of this dataset yet: press Find label errors (a few minutes per fold)."


class ReviewPanel(QWidget):
    review_chosen = pyqtSignal(object)  # Path of a review folder
    order_changed = pyqtSignal(str)     # BY_IMAGE or ALL_REGIONS

    def __init__(self, store, actions: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("review_panel")
        self.reviews = QComboBox()
        self.reviews.setToolTip("The dataset's reviews, newest first (.fcnstudio/reviews/)")
        self.reviews.activated.connect(lambda i: self.review_chosen.emit(self.reviews.itemData(i)))
        self.settings = ReviewSettings(store)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("")
        self.progress.hide()
        self.status = StatusText(EMPTY)
        self.gate = QLabel()
        self.gate.setWordWrap(True)
        self.gate.setStyleSheet(GATE_STYLE)
        self.show_anyway = QPushButton("Show the regions anyway")
        self.show_anyway.setCheckable(True)
        self.show_anyway.setToolTip("The order is not a ranking when the models are too weak: most of it is noise")
        self.show_anyway.toggled.connect(lambda _: self._update_visibility())
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.one_queue = QCheckBox("One queue")
        self.one_queue.setToolTip("Every region of the dataset in one list, most suspicious first")
        self.one_queue.toggled.connect(lambda on: self.order_changed.emit(ALL_REGIONS if on else BY_IMAGE))
        self.list = ReviewList()
        self.list.setMinimumHeight(8 * self.list.fontMetrics().height())  # a few rows even in a crowded column
        self._gate_text = ""  # the not-trusted verdict of the review shown, in full ("" when trusted or none)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.left = QLabel()
        self.buttons = {}
        self._trusted = True
        self._has_queue = False
        self._layout(actions)
        self.show_queue(None)

    def _layout(self, actions: dict) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Review"))
        top.addWidget(self.reviews, 1)
        rows = []
        for keys in ROWS:
            row = QGridLayout()
            for c, key in enumerate(keys):
                b = self.buttons[key] = QToolButton()
                b.setDefaultAction(actions[key])
                b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                row.addWidget(b, 0, c)
            rows.append(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.settings)
        layout.addLayout(rows[0])
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.gate)
        layout.addWidget(self.show_anyway)
        layout.addWidget(self.notes)
        layout.addWidget(self.one_queue)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details)
        layout.addLayout(rows[1])
        layout.addWidget(self.left)
        layout.addLayout(rows[2])
        layout.addStretch(0)  # takes the height while the list is hidden (the list's stretch wins otherwise)

    # ------------------------------------------------------------------ what the controller shows

    def show_reviews(self, folders: list, current: Path | None) -> None:
        """The dataset's review folders (newest first) in the picker, ``current`` selected."""
        self.reviews.clear()
        for folder in folders:
            self.reviews.addItem(Path(folder).name, Path(folder))
        if not folders:
            self.reviews.addItem("(none yet)", None)
        i = self.reviews.findData(Path(current)) if current is not None else -1
        self.reviews.setCurrentIndex(max(0, i))

    def show_queue(self, queue) -> None:
        """Show ``queue`` (None: no review open): verdict, notes, the list and the count."""
        self._has_queue = queue is not None
        review = queue.review if queue is not None else None
        self._trusted = review is None or review.trusted
        self._gate_text = "" if self._trusted else (f"<b>Not trusted</b>: {review.reason[:1].upper()}"
                                                    f"{review.reason[1:]} The list below would not be a ranking.")
        self.notes.setText(_notes(review))
        self.notes.setVisible(bool(self.notes.text()))
        if queue is not None:
            self.one_queue.blockSignals(True)
            self.one_queue.setChecked(queue.order == ALL_REGIONS)
            self.one_queue.blockSignals(False)
        self.list.show_queue(queue)
        self.show_count(queue)
        self._update_visibility()

    def show_count(self, queue) -> None:
        if queue is None:
            self.left.setText("")
            return
        total = len(queue.items())
        self.left.setText(f"<b>{queue.left}</b> of {total} region(s) left" if total else "No region to look at.")

    def show_item(self, queue, item) -> None:
        """The selected region's kind, classes, size and score (``item`` None: nothing selected)."""
        if item is None:
            self.details.setText("")
            return
        r = item.region
        x, y, w, h = r.box
        state = " — accepted" if queue.is_accepted(item) else ""
        self.details.setText(
            f"<b>{r.kind}</b> in {item.image.stem or item.image.mask}: labelled <b>{queue.class_name(r.label)}</b>, "
            f"the model sees <b>{queue.class_name(r.predicted)}</b> — {r.area} px at x={x} y={y} ({w}×{h}), "
            f"score {r.score:.2f}{state}")
        self.list.select_key(item.key)

    def set_running(self, running: bool) -> None:
        self.settings.setEnabled(not running)
        self.reviews.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first fold says how far
            self.progress.setFormat("")

    def show_progress(self, p) -> None:
        frac = progress_fraction(p)
        if frac is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * frac))
            self.progress.setFormat(f"fold {p.fold} of {p.folds}")
        self.status.setText(progress_text(p)[:1].upper() + progress_text(p)[1:])

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def regions_shown(self) -> bool:
        """A review is open and its regions are listed (trusted, or shown anyway)."""
        return self._has_queue and (self._trusted or self.show_anyway.isChecked())

    def _update_visibility(self) -> None:
        listed = self.regions_shown()
        self.gate.setVisible(self._has_queue and not self._trusted)
        if listed and not self._trusted:  # the list needs the room: one line, the reason in the tooltip
            self.gate.setText("<b>Not trusted</b>: the models are too weak; most of this order is noise "
                              "(hover for why).")
            self.gate.setToolTip(self._gate_text)
        else:
            self.gate.setText(self._gate_text)
            self.gate.setToolTip("")
        self.show_anyway.setVisible(self._has_queue and not self._trusted)
        for w in (self.one_queue, self.list, self.details, self.left):
            w.setVisible(listed)


def _notes(review) -> str:
    """The folds whose model collapsed or failed, and their images that are not ranked."""
    if review is None:
        return ""
    lines = []
    for q in review.fold_quality:
        if q.ranked:
            continue
        why = f"the run failed ({q.error})" if q.error else f"the model collapsed ({', '.join(q.collapse)})"
        stems = [u.stem or u.mask for u in review.unranked if u.fold == q.fold]
        shown = ", ".join(stems[:8]) + (f" and {len(stems) - 8} more" if len(stems) > 8 else "")
        lines.append(f"Fold {q.fold}: {why}; its {len(stems)} image(s) are not ranked: {shown}.")
    return "\n".join(lines)
