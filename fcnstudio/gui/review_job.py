"""The label review as a background job of the window, and how its progress reads.

:func:`review_job` returns a :class:`ReviewJob`: a :class:`~fcnstudio.gui.jobs.Job`
(same started / result / failed / cancelled / finished contract, same thread
and join) whose work is :func:`fcnstudio.train.review.run_review`, with two
signals more::

    stage(ReviewProgress)        # fold i of K, phase, done/total, ETA; at most every PROGRESS_INTERVAL_S
                                 # (a new fold or phase always goes out)
    warned(int, WarningEvent)    # a fold model's training warning (its fold)

``result`` gets the :class:`~fcnstudio.train.review.ReviewOutcome` of a
finished review; a cancel (polled by the review between images and relayed to
the training fold) ends in ``cancelled``, and the review removes its folder.
Torch is imported in the job's thread, when the work starts.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QObject, pyqtSignal

from fcnstudio.gui.jobs import PROGRESS_INTERVAL_S, Job
from fcnstudio.gui.status_text import clock_text

__all__ = ["ReviewJob", "progress_fraction", "progress_text", "review_job"]

_PHASES = {"check": "checking the labels", "train": "training", "predict": "predicting", "score": "scoring"}
#: the share of a fold's time each phase ends at (training takes most of it)
_ENDS = {"train": (0.0, 0.85), "predict": (0.85, 0.97), "score": (0.97, 1.0)}


class ReviewJob(Job):
    """A review in its thread; see the module docstring for the signals."""

    stage = pyqtSignal(object)
    warned = pyqtSignal(int, object)

    def __init__(self, work, parent: QObject | None = None) -> None:
        super().__init__(work, "review", parent=parent)
        self._last_stage = (None, 0.0)

    def report(self, p) -> None:
        """``run_review``'s progress callback (the job's thread): throttled, a new fold or phase always goes."""
        now = time.monotonic()
        where, last = self._last_stage
        if (p.fold, p.phase) != where or p.done >= p.total or now - last >= PROGRESS_INTERVAL_S:
            self._last_stage = ((p.fold, p.phase), now)
            self.stage.emit(p)

    def relay(self, fold: int, event) -> None:
        """``run_review``'s training events: the warnings go to the window."""
        if getattr(event, "severity", "") == "warning":
            self.warned.emit(fold, event)


def review_job(root: str, folds: int, minutes_per_fold: float | None, steps_per_fold: int | None, config: dict,
               parent: QObject | None = None) -> ReviewJob:
    """A job that reviews the dataset at ``root``; the fold models train with ``TrainConfig(**config)``."""

    def work(job: ReviewJob):
        from fcnstudio.train.config import TrainConfig
        from fcnstudio.train.review import run_review

        outcome = run_review(root, folds, minutes_per_fold, steps_per_fold, config=TrainConfig(**config),
                             progress=job.report, stop=job.stop_event.is_set, on_event=job.relay)
        return None if outcome.cancelled else outcome

    return ReviewJob(work, parent)


def progress_fraction(p) -> float | None:
    """How far the whole review is (0..1), or None while the labels are checked (no fold yet)."""
    if p.fold < 1 or p.phase not in _ENDS:
        return None
    start, end = _ENDS[p.phase]
    within = start + (end - start) * (p.done / p.total if p.total else 1.0)
    return min(1.0, (p.fold - 1 + within) / max(1, p.folds))


def progress_text(p) -> str:
    """``fold 2 of 3: training 1:10 of 4:00 — ETA 6:30`` (or ``checking the labels 40 of 120``)."""
    what = _PHASES.get(p.phase, p.phase)
    count = f"{clock_text(p.done)} of {clock_text(p.total)}" if p.phase == "train" else f"{p.done} of {p.total}"
    where = f"fold {p.fold} of {p.folds}: " if p.fold >= 1 else ""
    eta = f" — ETA {clock_text(p.eta_s)}" if p.eta_s is not None else ""
    return f"{where}{what} {count}{eta}"
