"""The GUI tests' leak guard: what a test left running when it ended.

Three kinds of thread can outlive a test, and each is looked at its own way:

- a ``QThread`` (Qt names its native thread, not Python's ``threading``, so a
  name match does not see it): every ``QThread.start`` of the session is
  recorded (:func:`track_qthreads`), and one still running is a leak;
- a :class:`~fcnstudio.gui.jobs.Job` (a QRunnable in a pool thread) not joined,
  and any runnable still active in Qt's global thread pool;
- a Python thread named ``fcnstudio-*``.

A thread gets ``grace_ms`` to end (its ``finished`` may have been delivered a
moment before ``run()`` returned); one still running then has leaked.
"""

from __future__ import annotations

import threading
import weakref

from PyQt6.QtCore import QThread, QThreadPool

from fcnstudio.gui.jobs import live_jobs

_STARTED: "weakref.WeakSet[QThread]" = weakref.WeakSet()
_REAL_START = QThread.start


def _recording_start(self, *args):
    _STARTED.add(self)
    return _REAL_START(self, *args)


def track_qthreads() -> None:
    """Record every QThread started from now on (idempotent)."""
    QThread.start = _recording_start


def left_running(grace_ms: int = 1000) -> list[str]:
    """What is still running, after up to ``grace_ms`` for each thread to end."""
    left = []
    for thread in list(_STARTED):
        if thread.isRunning() and not thread.wait(grace_ms):
            left.append(f"QThread {thread.objectName() or type(thread).__name__!r}")
        else:
            _STARTED.discard(thread)
    left += [f"job {job.name!r}" for job in live_jobs() if not job.wait(grace_ms)]
    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount() and not pool.waitForDone(grace_ms):
        left.append(f"{pool.activeThreadCount()} runnable(s) in the global thread pool")
    left += [f"thread {t.name!r}" for t in threading.enumerate() if t.name.startswith("fcnstudio-")]
    return left
