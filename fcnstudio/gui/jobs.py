"""Background jobs: one contract for check, fix, train, predict and the sanity tools.

A :class:`Job` runs ``work(job)`` once, off the GUI thread, in a superqt
``FunctionWorker`` (a QRunnable whose exceptions become a signal). What the
work says reaches the GUI thread as signals, in this order::

    started()
    progress(done, total, loss)   # job.report_progress(); at most every PROGRESS_INTERVAL_S, the last always
    result(value)    \\
    failed(JobError)  > at most one: what work returned (not None) / an exception / a cancel it obeyed
    cancelled()      /
    finished()       # always last; the job's thread has returned (wait() returns at once)

``failed`` carries a :class:`JobError` — a message for the window (the
feature shows it in its status bar, message box or banner), the traceback in
``detail`` — so no traceback ever reaches the user. Cancelling is
cooperative: :meth:`Job.cancel` sets :attr:`Job.stop_event`; the work polls
:attr:`Job.stop_requested` (or hands ``stop_event``/``cancel`` to core code).
Whatever the work returns or raises after a cancel counts as ``cancelled``.
A job made with ``cancellable=False`` (writing a fix) ignores cancel.

Two choices differ from superqt's defaults, for a reason each:

- Each job runs in a ``QThreadPool`` of its own (one thread), not superqt's
  global pool: :meth:`Job.wait` must join exactly this job's thread — the
  window joins a run before the app exits, since a thread killed inside a
  torch op aborts the process — and ``waitForDone`` is the only join a
  QRunnable has.
- ``progress`` is throttled in the job's thread, not with ``qthrottled``: a
  throttled call's trailing edge would land after ``result``/``finished`` and
  overwrite what the window shows then. Redraws on the GUI side (loss plot,
  previews, status) use ``qthrottled``.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal

from fcnstudio.train.events import ErrorEvent

__all__ = ["PROGRESS_INTERVAL_S", "Job", "JobError", "live_jobs", "preload"]

#: progress() signals at most this often (seconds); the last one (done == total) always goes out.
PROGRESS_INTERVAL_S = 0.1

#: Jobs started and whose thread has not been joined yet (by wait(), or when finished is handled).
_LIVE: set["Job"] = set()


def preload() -> threading.Thread:
    """Import superqt in a thread of its own once the window is up, so that the first job starts at once.

    (Importing it costs ~0.4 s, which is why this module and :mod:`.throttle` import it late.) Join the
    thread before the app exits."""
    import importlib

    thread = threading.Thread(target=importlib.import_module, args=("superqt.utils",), name="fcnstudio-preload")
    thread.start()
    return thread


def live_jobs() -> list["Job"]:
    """The jobs started and not yet joined (the window's close and the tests' leak guard look here)."""
    return list(_LIVE)


@dataclass(frozen=True)
class JobError(ErrorEvent):
    """A job's work raised: ``message`` (``"<job> failed: <Type>: <reason>"``), ``reason`` (``str(exc)``), ``detail``."""

    reason: str = field(default="")


class Job(QObject):
    """Runs ``work(job)`` once in a thread of its own; see the module docstring for the signals."""

    started = pyqtSignal()
    progress = pyqtSignal(int, int, float)
    result = pyqtSignal(object)
    failed = pyqtSignal(object)
    cancelled = pyqtSignal()
    finished = pyqtSignal()

    def __init__(self, work: Callable[["Job"], Any], name: str = "job", *, cancellable: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancellable = cancellable
        self.stop_event = threading.Event()
        self._work = work
        self._pool: QThreadPool | None = None
        self._runner = None  # the superqt FunctionWorker, once started
        self._outcome: tuple[str, object] = ("none", None)
        self._silent = False  # shut down: the window is closing, nobody listens any more
        self._last_progress = 0.0

    # ------------------------------------------------------------------ lifecycle (GUI thread)

    def start(self) -> None:
        if self._pool is not None:
            raise RuntimeError(f"a job runs once; create another for the next {self.name}")
        from superqt.utils import FunctionWorker  # here, not at the top: importing superqt costs ~0.4 s of startup

        runner = FunctionWorker(self._work, self)
        runner.setAutoDelete(False)  # Python keeps it; the pool must not delete it under us
        # The runner's signals live in the GUI thread: these connections are queued.
        runner.started.connect(self.started)
        runner.returned.connect(self._on_returned)
        runner.errored.connect(self._on_errored)
        runner.finished.connect(self._on_finished)
        self._pool = QThreadPool()  # no Qt parent: wait() must work after deleteLater() of the job
        self._pool.setMaxThreadCount(1)
        self._runner = runner
        _LIVE.add(self)
        self._pool.start(runner)

    @property
    def running(self) -> bool:
        """The work is running in its thread (started, not ended)."""
        return self._pool is not None and self._pool.activeThreadCount() > 0

    def wait(self, ms: int | None = None) -> bool:
        """Join the job's thread (True when it has ended, or never started); ``ms=None``: as long as it takes."""
        if self._pool is None:
            return True
        joined = self._pool.waitForDone(-1 if ms is None else int(ms))
        if joined:
            _LIVE.discard(self)
        return joined

    def shutdown(self, ms: int | None = None) -> bool:
        """The window is closing: stop the work, join its thread, and emit nothing more. True when joined."""
        self._silent = True
        self.stop()
        return self.wait(ms)

    # ------------------------------------------------------------------ control (any thread)

    def cancel(self) -> None:
        """Ask the work to stop (answered within a step); ``cancelled`` follows. Ignored when not cancellable."""
        if self.cancellable:
            self.stop_event.set()

    def stop(self) -> None:
        """Cancel, whatever ``cancellable`` says (the window is closing); join with :meth:`wait`."""
        self.stop_event.set()

    @property
    def stop_requested(self) -> bool:
        return self.stop_event.is_set()

    def report_progress(self, done: int, total: int, loss: float = math.nan) -> None:
        """The work's progress callback (its thread); throttled, the last one (done >= total) always goes."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(int(done), int(total), float(loss))

    # ------------------------------------------------------------------ how it ended (GUI thread)

    def _on_returned(self, value) -> None:
        self._outcome = ("result", value)

    def _on_errored(self, exc: Exception) -> None:
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        error = JobError(message=f"{self.name} failed: {type(exc).__name__}: {exc}", detail=detail, reason=str(exc))
        self._outcome = ("failed", error)

    def _on_finished(self) -> None:
        self.wait()  # run() is returning: this is the time it takes to leave it
        if self._silent:
            return
        self._silent = True  # once
        kind, value = self._outcome
        if self.stop_requested and (kind != "result" or self.cancellable):
            self.cancelled.emit()
        elif kind == "result" and value is not None:
            self.result.emit(value)
        elif kind == "failed":
            self.failed.emit(value)
        self.finished.emit()
