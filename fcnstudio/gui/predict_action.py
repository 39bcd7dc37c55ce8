"""Predict: run the best checkpoint on the current image, or on every image without a mask.

"Predict" puts the network's mask into the editor as ONE undoable edit (one
undo step; Ctrl+Z brings the old mask back); nothing is written until the
user saves, as with a brush stroke. "Predict all unlabelled" writes a mask
for every pair that has none, each written like a save from the editor (a
palette PNG with the project's class colours, atomically), then reloads the
dataset so the pair list shows them. Both run in a :class:`~.worker.Worker`
thread; torch is imported there.

The checkpoint is the one chosen in the Runs dock (:attr:`PredictActions.checkpoint`) while
that file exists, else the newest ``best.pt`` (else ``last.pt``) under
``<dataset>/.fcnstudio/runs/`` — during a run, the best one so far.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QKeySequence

from fcnstudio.core.edits import Change, Rect
from fcnstudio.core.state_dirs import runs_dir
from fcnstudio.gui.worker import Worker

__all__ = ["PredictActions", "latest_checkpoint", "replace_mask"]


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest best.pt (else last.pt) of the dataset's runs, or None."""
    runs = runs_dir(root)
    for name in ("best.pt", "last.pt"):
        found = [p for p in runs.glob(f"*/{name}") if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def _set_class(mask: np.ndarray, new: np.ndarray, value: int) -> Change | None:
    """An edits-style tool: write ``value`` wherever ``new`` holds it (in place); the Change, or None."""
    cond = np.ascontiguousarray((new == value) & (mask != value))
    x, y, w, h = cv2.boundingRect(cond.view(np.uint8))
    if w == 0 or h == 0:
        return None
    rect = Rect(y, x, y + h, x + w)
    view = mask[rect.slices]
    changed = np.ascontiguousarray(cond[rect.slices])
    old = view.copy()
    np.copyto(view, mask.dtype.type(value), where=changed)
    changed.flags.writeable = False
    old.flags.writeable = False
    return Change(rect, changed, old, int(value))


def replace_mask(session, new: np.ndarray) -> bool:
    """Make ``new`` the current mask as one undo step; False when nothing changed or the mask is read-only."""
    if not session.editable or session.mask is None or new.shape != session.mask.shape:
        return False
    new = new.astype(session.mask.dtype, copy=False)
    if not session.begin_stroke():
        return False
    try:
        for value in np.unique(new):
            session.apply(_set_class, new, int(value))
    finally:
        changed = session.end_stroke()
    return changed


class PredictActions(QObject):
    """The Predict actions of ``window`` (a MainWindow): :attr:`predict_action`, :attr:`predict_all_action`."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.worker: Worker | None = None
        #: the checkpoint chosen in the Runs dock; None: the newest of the dataset
        self.checkpoint: Path | None = None
        self.predict_action = QAction("&Predict current image", window)
        self.predict_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.predict_action.setStatusTip("Put the trained network's mask for this image into the editor (one undo step)")
        self.predict_action.triggered.connect(self.predict_current)
        self.predict_all_action = QAction("Predict all &unlabelled", window)
        self.predict_all_action.setStatusTip("Write a predicted mask for every image that has none")
        self.predict_all_action.triggered.connect(self.predict_unlabelled)
        window.addAction(self.predict_action)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def _status(self, text: str, ms: int = 8000) -> None:
        self.window.show_status(text, ms)

    def _checkpoint(self) -> Path | None:
        s = self.session
        ckpt = self.checkpoint if self.checkpoint is not None and self.checkpoint.is_file() else None
        if ckpt is None and s.dataset is not None:
            ckpt = latest_checkpoint(s.dataset.root)
        if ckpt is None:
            self._status("No trained network yet: start training first (Training dock)")
        return ckpt

    def _start(self, job, on_result, kind: str) -> None:
        self.worker = Worker(job, kind, self)
        self.worker.result.connect(on_result)
        self.worker.failed.connect(lambda ev: self._status(ev.message, 15000))
        self.worker.progress.connect(lambda d, t, _l: self._status(f"Predicting {d} of {t}…", 2000))
        self.worker.finished.connect(self._finished)
        self.worker.start()

    def _finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker.wait()

    # ------------------------------------------------------------------ current image

    def predict_current(self) -> bool:
        s = self.session
        if self.busy or s.pair is None or s.image is None:
            self._status("Nothing to predict: open an image first" if not self.busy else "A prediction is running")
            return False
        if not s.editable:
            self._status("This mask is read-only; fix it before predicting into it")
            return False
        ckpt = self._checkpoint()
        if ckpt is None:
            return False
        image, index, names = s.image.copy(), s.index, list(s.project.class_names)
        key = (str(s.dataset.root), s.pair.stem)

        def job(worker):
            from fcnstudio.train.predict import Predictor

            p = Predictor.from_file(ckpt)
            if p.class_names != names:
                raise ValueError(f"{ckpt.parent.name}/{ckpt.name} was trained for the classes "
                                 f"{', '.join(p.class_names)}; this dataset has {', '.join(names)}")
            classes, _ = p.predict(image)
            return key, index, classes

        self._status(f"Predicting {s.pair.stem} with {ckpt.parent.name}/{ckpt.name}…", 30000)
        self._start(job, self._apply_current, "predict")
        return True

    def _apply_current(self, out) -> None:
        key, index, classes = out
        s = self.session
        if s.dataset is None or s.pair is None or (str(s.dataset.root), s.pair.stem) != key or s.index != index:
            self._status("The prediction finished after you moved to another image; it was not applied")
            return
        if replace_mask(s, classes):
            self._status(f"Predicted mask put into the editor ({s.pair.stem}); Ctrl+Z restores the old one")
        else:
            self._status("The prediction is the same as the current mask")

    # ------------------------------------------------------------------ all unlabelled

    def predict_unlabelled(self) -> bool:
        s = self.session
        if self.busy or s.dataset is None:
            return False
        current_kept = s.pair is not None and s.pair.mask is None and s.dirty
        todo = [(p.image, s.target_path(p)) for i, p in enumerate(s.dataset.pairs)
                if p.mask is None and p.image is not None and not (current_kept and i == s.index)]
        if not todo:
            self._status("Every image has a mask already")
            return False
        ckpt = self._checkpoint()
        if ckpt is None:
            return False
        colors, names = list(s.project.colors), list(s.project.class_names)

        def job(worker):
            from fcnstudio.core.io import read_image, write_mask
            from fcnstudio.train.predict import Predictor

            p = Predictor.from_file(ckpt)
            if p.class_names != names:
                raise ValueError(f"{ckpt.name} was trained for other classes ({', '.join(p.class_names)})")
            written, errors = [], []
            for n, (image, target) in enumerate(todo):
                if worker.stop_requested:
                    break
                try:
                    classes, _ = p.predict(read_image(image), image.name)
                    if target.exists():  # made meanwhile (saved from the editor): never overwrite
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_mask(target, classes, colors)
                    written.append(target)
                except (OSError, ValueError) as exc:
                    errors.append(f"{image.name}: {exc}")
                worker.report_progress(n + 1, len(todo))
            return written, errors

        self._status(f"Predicting {len(todo)} unlabelled image(s) with {ckpt.parent.name}/{ckpt.name}…", 30000)
        self._start(job, self._all_done, "predict-all")
        return True

    def _all_done(self, out) -> None:
        written, errors = out
        s = self.session
        if written and s.dataset is not None and s.resolve_unsaved(self.window.ask):
            self.window.open_dataset(s.dataset.root, s.index)
        text = f"Wrote {len(written)} predicted mask(s)"
        if errors:
            text += "; not predicted: " + "; ".join(errors[:3])
        self._status(text, 15000)
