"""The trainer-to-signals adapter: a :class:`~fcnstudio.gui.jobs.Job` that also speaks the trainer's events.

The trainer knows nothing of Qt: it calls a callback with plain event
dataclasses (:mod:`fcnstudio.train.events`). :class:`Worker` is a Job (same
started / progress / result / failed / cancelled / finished contract, same
thread and join) whose work may hand it a trainer; it turns each event into
one signal and lets stop / pause / resume reach the trainer::

    step(StepEvent)  evaluated(EvalEvent)  warned(WarningEvent)   # severity "warning"
    noted(InfoEvent | WarningEvent)        # notes, and collapse-recovered (severity "info")
    done(DoneEvent)                        # the run ended (failed(ErrorEvent) when it broke)
    refused(Refusal)                       # the run could not start (pre-flight findings, a bad setting)

Torch is imported inside the thread, when a job starts, never when this
module is imported (the window opens without it).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from PyQt6.QtCore import QObject, pyqtSignal

from fcnstudio.gui.jobs import Job
from fcnstudio.train.events import DoneEvent, ErrorEvent, EvalEvent, InfoEvent, StepEvent, WarningEvent

__all__ = ["Refusal", "Worker", "sanity_worker", "training_worker"]


@dataclass(frozen=True)
class Refusal:
    """Why a job did not start. ``findings``: the checker's error findings for a pre-flight refusal."""

    message: str
    findings: tuple = field(default=())

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.findings})


class Worker(Job):
    """Runs ``job(worker)`` once (see :class:`~fcnstudio.gui.jobs.Job`) and relays a trainer's events."""

    step = pyqtSignal(object)
    evaluated = pyqtSignal(object)
    warned = pyqtSignal(object)
    noted = pyqtSignal(object)
    done = pyqtSignal(object)
    refused = pyqtSignal(object)

    def __init__(self, job: Callable[["Worker"], Any], kind: str = "job", parent: QObject | None = None) -> None:
        super().__init__(job, kind, parent=parent)
        self.kind = kind
        self._lock = threading.Lock()
        self._paused = False
        self._trainer = None

    # ------------------------------------------------------------------ control (any thread)

    def stop(self) -> None:
        super().stop()
        with self._lock:
            trainer = self._trainer
        if trainer is not None:
            trainer.stop()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.resume()

    @property
    def paused(self) -> bool:
        return self._paused

    # ------------------------------------------------------------------ the job's thread

    def attach(self, trainer) -> None:
        """Let stop/pause reach ``trainer`` (called in the job's thread, before it runs)."""
        with self._lock:
            self._trainer = trainer
            if self._paused:
                trainer.pause()
        if self.stop_requested:
            trainer.stop()

    def emit_event(self, event) -> None:
        """The trainer's callback: one event → one signal."""
        if isinstance(event, StepEvent):
            self.step.emit(event)
        elif isinstance(event, EvalEvent):
            self.evaluated.emit(event)
        elif isinstance(event, WarningEvent):
            (self.warned if event.severity == "warning" else self.noted).emit(event)
        elif isinstance(event, InfoEvent):
            self.noted.emit(event)
        elif isinstance(event, DoneEvent):
            self.done.emit(event)
        elif isinstance(event, ErrorEvent):
            self.failed.emit(event)


# ---------------------------------------------------------------------- jobs


def _refusal(exc: Exception) -> Refusal:
    return Refusal(str(exc), tuple(getattr(exc, "findings", ()) or ()))


def training_worker(dataset_root: str, config: dict, project=None, parent: QObject | None = None,
                    check=None) -> Worker:
    """A worker that trains on ``dataset_root`` with ``TrainConfig(**config)``.

    The pre-flight check and the data loading run in the thread too; a refusal
    (error findings, an unusable setting or checkpoint) is a ``refused`` signal.
    ``check``: the Checker dock's last result, used instead of a new check while it is current.
    """
    def job(worker: Worker) -> None:
        from fcnstudio.train.preflight import reuse_check
        from fcnstudio.train.trainer import REFUSALS, TrainConfig, Trainer

        try:
            cfg = TrainConfig(**config)
        except (TypeError, ValueError) as exc:
            worker.refused.emit(_refusal(exc))
            return
        trainer = Trainer(dataset_root, cfg, callback=worker.emit_event, project=project,
                          check_result=reuse_check(check, project))
        worker.attach(trainer)
        try:
            trainer.prepare()
        except REFUSALS as exc:
            worker.refused.emit(_refusal(exc))
            return
        except Exception:  # noqa: BLE001 - a stop during the check/scan, or a real failure
            if trainer.stop_requested:
                worker.done.emit(DoneEvent(None, math.nan, None, trainer.step, True))
                return
            raise
        trainer.run()  # emits DoneEvent or ErrorEvent; never raises

    return Worker(job, "training", parent)


def sanity_worker(which: str, dataset_root: str, config: dict, project=None,
                  parent: QObject | None = None) -> Worker:
    """A worker for ``"overfit"`` (overfit one batch) or ``"lr"`` (LR range test); ``result`` gets its result."""
    if which not in ("overfit", "lr"):
        raise ValueError(f"unknown sanity tool {which!r}; use 'overfit' or 'lr'")

    def job(worker: Worker):
        from fcnstudio.train import sanity
        from fcnstudio.train.trainer import REFUSALS, TrainConfig

        try:
            cfg = TrainConfig(**config)
            fn = sanity.overfit_one_batch if which == "overfit" else sanity.lr_range_test
            return fn(dataset_root, cfg, project=project, progress=worker.report_progress, stop=worker.stop_event)
        except REFUSALS as exc:
            worker.refused.emit(_refusal(exc))
            return None
        except Exception:  # noqa: BLE001 - a stop during the check, or a real failure
            if worker.stop_requested:
                return None
            raise

    return Worker(job, "overfit" if which == "overfit" else "lr-range", parent)
