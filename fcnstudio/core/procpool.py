"""Process pools whose workers end when the process that made them dies.

A :class:`~concurrent.futures.ProcessPoolExecutor` worker waits on a pipe
whose write end it holds itself, so when its parent is SIGKILLed it never sees
end-of-file and waits for good (a killed ``fcnstudio fix`` left two ~40 MB
workers behind). :func:`process_pool` makes a pool whose workers, as they
start, tie their life to the parent's:

- On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker
  when its parent *thread* ends. With ``fork`` the parent is the thread of this
  process that submitted work (the pool forks in ``submit``); with
  ``forkserver`` it is the fork server, which exits when this process dies
  (it reads end-of-file on a pipe only this process writes).
- Everywhere, a watchdog thread in each worker: every :data:`WATCH_INTERVAL_S`
  it checks that its parent is the one it started with (a POSIX orphan is
  re-parented, so ``getppid()`` changes) — on Windows, where the parent id
  never changes, it waits on a handle of the process that made the pool — and
  ends the worker when that is gone. This covers ``spawn`` and other OSes,
  and a ``forkserver`` whose server outlived its client.

The standard library only; no Qt, no torch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["WATCH_INTERVAL_S", "process_pool"]

#: How often a worker's watchdog looks at its parent (seconds).
WATCH_INTERVAL_S = 0.25

_PR_SET_PDEATHSIG = 1
_SYNCHRONIZE = 0x00100000
_INFINITE = 0xFFFFFFFF


def process_pool(workers: int, mp_context: multiprocessing.context.BaseContext) -> ProcessPoolExecutor:
    """A process pool of ``workers`` started by ``mp_context`` whose workers die with this process."""
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=mp_context, initializer=_bind_to_owner, initargs=(os.getpid(),)
    )


def _bind_to_owner(owner_pid: int) -> None:
    """Pool worker initializer: end this worker when its parent (or ``owner_pid``) goes away."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        _set_parent_death_signal()
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    watch = _watch_owner_handle if sys.platform == "win32" else _watch_parent_id
    threading.Thread(target=watch, args=(owner_pid, parent), name="fcnstudio-pool-watchdog", daemon=True).start()


def _set_parent_death_signal() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _watch_parent_id(owner_pid: int, parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)  # orphaned: nobody will read what this worker computes


def _watch_owner_handle(owner_pid: int, parent: int) -> None:
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(_SYNCHRONIZE, False, owner_pid)
    if not handle:
        os._exit(1)  # the owner is gone already
    kernel32.WaitForSingleObject(handle, _INFINITE)
    os._exit(1)
