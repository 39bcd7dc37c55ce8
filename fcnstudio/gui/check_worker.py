"""The checker dock's background work: a check, a fix plan, a fix, each off the GUI thread.

A :class:`BackgroundJob` runs one function ``work(progress, cancel)`` in a
QThread of its own (the superqt contract, cut to what the dock needs). The
function reports ``progress(done, total)`` from the worker thread and polls
``cancel()``; everything it says reaches the GUI thread as signals:

- ``progress(done, total)`` — throttled to a few updates a second;
- exactly one of ``succeeded(value)``, ``failed(exception)``, ``cancelled()``;
- then ``finished()``, once the thread has stopped (a test that waits on it
  finds no thread running).

The work itself is plain core code (:func:`check_work`, :func:`plan_work`,
:func:`apply_work`): no widget is touched outside the GUI thread. What the
checks found is kept in a :class:`CheckResults`, not in a widget.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from fcnstudio.core.checker.run import CheckCancelled, check_dataset
from fcnstudio.core.fixes import apply_fix, plan_fix

#: Seconds between two progress signals (the last one, done == total, always goes).
PROGRESS_INTERVAL = 0.05

Work = Callable[[Callable[[int, int], None], Callable[[], bool]], object]

#: Threads started by a BackgroundJob and not yet joined.
_LIVE: set[QThread] = set()


def live_threads() -> list[QThread]:
    """The worker threads started and not yet joined (tests assert none is left)."""
    return list(_LIVE)


class JobCancelled(Exception):
    """Raised by a work function that noticed ``cancel()``; the job then emits ``cancelled``."""


class _Runner(QObject):
    """Lives in the worker thread; runs the work once and says how it ended."""

    progress = pyqtSignal(int, int)
    done = pyqtSignal(str, object)  # "ok" | "failed" | "cancelled", value or exception

    def __init__(self, work: Work, cancel: threading.Event) -> None:
        super().__init__()
        self._work = work
        self._cancel = cancel
        self._last = 0.0

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.progress.emit(int(done), int(total))

    @pyqtSlot()
    def run(self) -> None:
        try:
            value = self._work(self._progress, self._cancel.is_set)
        except (CheckCancelled, JobCancelled):
            self.done.emit("cancelled", None)
        except Exception as exc:  # reported to the GUI thread, which shows it; never lost in the thread
            self.done.emit("failed", exc)
        else:
            self.done.emit("ok", value)


class BackgroundJob(QObject):
    """One function run in a QThread; see the module doc for the signals."""

    progress = pyqtSignal(int, int)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(object)
    cancelled = pyqtSignal()
    finished = pyqtSignal()

    def __init__(self, name: str, work: Work, *, cancellable: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancellable = cancellable
        self._work = work
        self._cancel = threading.Event()
        self._thread: QThread | None = None
        self._runner: _Runner | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the {self.name} job is already running")
        thread = QThread()
        thread.setObjectName(f"fcnstudio-{self.name}")
        runner = _Runner(self._work, self._cancel)
        runner.moveToThread(thread)
        thread.started.connect(runner.run)
        runner.progress.connect(self.progress)  # queued: this object lives in the GUI thread
        runner.done.connect(self._on_done)
        self._thread, self._runner = thread, runner
        _LIVE.add(thread)
        thread.start()

    def cancel(self) -> None:
        """Ask the work to stop (a check stops within a second); ``cancelled`` follows."""
        if self.cancellable:
            self._cancel.set()

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Cancel and wait for the thread without emitting anything (the window is closing)."""
        thread = self._thread
        if thread is None:
            return True
        self.cancel()
        thread.quit()
        stopped = thread.wait(timeout_ms)
        if stopped:
            self._release()
        return stopped

    def _release(self) -> None:
        _LIVE.discard(self._thread)
        self._thread = self._runner = None

    def _on_done(self, outcome: str, value) -> None:
        thread = self._thread
        if thread is None:  # stopped already
            return
        thread.quit()
        thread.wait()  # run() has returned: this is the time the event loop takes to quit
        self._release()
        if outcome == "ok" and self._cancel.is_set() and self.cancellable:
            outcome = "cancelled"  # a step that could not be interrupted: its result is not wanted
        if outcome == "ok":
            self.succeeded.emit(value)
        elif outcome == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(value)
        self.finished.emit()


# ---------------------------------------------------------------------- the work and its results


class CheckResults:
    """The last check's result (and when it ended) per dataset root; for this run of the app only."""

    def __init__(self) -> None:
        self._by_root: dict[str, tuple[object, float]] = {}

    @staticmethod
    def _key(root) -> str:
        return str(Path(root).resolve())

    def put(self, result) -> None:
        self._by_root[self._key(result.root)] = (result, time.time())

    def get(self, root):
        entry = self._by_root.get(self._key(root)) if root is not None else None
        return entry[0] if entry else None

    def when(self, root) -> float | None:
        """``time.time()`` of the check's end, or None."""
        entry = self._by_root.get(self._key(root)) if root is not None else None
        return entry[1] if entry else None

    def forget(self, root) -> None:
        self._by_root.pop(self._key(root), None)



def check_work(root: str | Path, workers: int | None = None) -> Work:
    """Check the dataset at ``root`` (read afresh from disk)."""

    def work(progress, cancel):
        return check_dataset(root, workers=workers, progress=progress, cancel=cancel)

    return work


def plan_work(root: str | Path, code: str, result=None, workers: int | None = None) -> Work:
    """The dry run of the fix for ``code``: from ``result`` when given, else after a fresh check."""

    def work(progress, cancel):
        source = result if result is not None else check_dataset(root, workers=workers, progress=progress, cancel=cancel)
        if cancel():
            raise JobCancelled()
        return plan_fix(source, code)

    return work


def apply_work(plan, backup: bool = True) -> Work:
    """Write the planned fix (originals backed up first). Not cancellable: each write is atomic, but a
    half-applied fix would leave the dataset with two encodings."""

    def work(progress, cancel):
        return apply_fix(plan, backup=backup)

    return work
