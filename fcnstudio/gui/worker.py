"""Background work for the training panel: a job in a QThread, its results as Qt signals.

The trainer knows nothing of Qt: it calls a callback with plain event
dataclasses (:mod:`fcnstudio.train.events`). :class:`Worker` runs one job — a
training run, a sanity tool, a prediction — in its own :class:`QThread` and
adapts what the job reports to signals. The worker object itself lives in the
GUI thread; its signals are emitted from the job's thread, so every slot runs
queued, on the GUI thread, and only the GUI thread touches widgets.

Signals (all on the GUI thread)::

    step(StepEvent)  evaluated(EvalEvent)  warned(WarningEvent)   # severity "warning"
    noted(InfoEvent | WarningEvent)        # notes, and collapse-recovered (severity "info")
    done(DoneEvent)  failed(ErrorEvent)    # the run ended / an exception in the thread
    refused(Refusal)                       # the run could not start (pre-flight findings, a bad setting)
    progress(done, total, loss)            # sanity tools and predictions, at most ~10 per second
    result(object)                         # what a sanity tool or a prediction returned
    finished()                             # always last; the thread has ended (see wait())

Control (from the GUI thread, answered within a step): :meth:`stop`,
:meth:`pause`, :meth:`resume`. Torch is imported inside the thread, when a
job starts, never when this module is imported (the window opens without it).
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from fcnstudio.train.events import DoneEvent, ErrorEvent, EvalEvent, InfoEvent, StepEvent, WarningEvent

__all__ = ["Refusal", "Worker", "sanity_worker", "training_worker"]

#: progress() signals at most this often (seconds); the last one always goes out.
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Refusal:
    """Why a job did not start. ``findings``: the checker's error findings for a pre-flight refusal."""

    message: str
    findings: tuple = field(default=())

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.findings})


class _Thread(QThread):
    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self._target = target

    def run(self) -> None:  # the job's thread
        self._target()


class Worker(QObject):
    """Runs ``job(worker)`` once in a QThread; see the module docstring for the signals."""

    step = pyqtSignal(object)
    evaluated = pyqtSignal(object)
    warned = pyqtSignal(object)
    noted = pyqtSignal(object)
    done = pyqtSignal(object)
    failed = pyqtSignal(object)
    refused = pyqtSignal(object)
    progress = pyqtSignal(int, int, float)
    result = pyqtSignal(object)
    finished = pyqtSignal()

    def __init__(self, job: Callable[["Worker"], Any], kind: str = "job", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self._job = job
        self._thread: _Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = False
        self._trainer = None
        self._last_progress = 0.0

    # ------------------------------------------------------------------ lifecycle (GUI thread)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a Worker runs its job once; create another for the next run")
        self._thread = _Thread(self._run, f"fcnstudio-{self.kind}")
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def wait(self, ms: int | None = None) -> bool:
        """Join the thread (True when it has ended, or never started); ``ms=None`` waits as long as it takes.

        A QThread object destroyed while its thread runs aborts the process, so
        the window joins without a limit when it closes (stop lands within a step).
        """
        if self._thread is None:
            return True
        return self._thread.wait() if ms is None else self._thread.wait(int(ms))

    # ------------------------------------------------------------------ control (any thread)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            trainer = self._trainer
        if trainer is not None:
            trainer.stop()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

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
        if self._stop.is_set():
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

    def report_progress(self, done: int, total: int, loss: float = math.nan) -> None:
        """A progress callback for jobs; throttled to PROGRESS_INTERVAL_S (the last one always goes)."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(int(done), int(total), float(loss))

    def _run(self) -> None:
        try:
            out = self._job(self)
            if out is not None:
                self.result.emit(out)
        except Exception as exc:  # noqa: BLE001 - everything reaches the GUI as a signal
            self.failed.emit(ErrorEvent(message=f"{self.kind} failed: {type(exc).__name__}: {exc}",
                                        detail=traceback.format_exc()))
        finally:
            with self._lock:
                self._trainer = None
            self.finished.emit()


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
            return fn(dataset_root, cfg, project=project, progress=worker.report_progress, stop=worker._stop)
        except REFUSALS as exc:
            worker.refused.emit(_refusal(exc))
            return None
        except Exception:  # noqa: BLE001 - a stop during the check, or a real failure
            if worker.stop_requested:
                return None
            raise

    return Worker(job, "overfit" if which == "overfit" else "lr-range", parent)
