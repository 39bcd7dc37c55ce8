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
  re-parented, so ``getppid()`` changes) *and* that the process that made the
  pool is still alive — on Linux the same process (pid and start time, so a
  reused pid or an unreaped zombie does not count); on Windows, where the
  parent id never changes, it waits on a handle of that process — and ends
  the worker when either is gone. The second check is what ends
  ``forkserver`` workers: the fork server lives on while any of its children
  hold the "alive" pipe it hands them, so their parent never dies first.

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
    if sys.platform == "win32":
        target, args = _watch_owner_handle, (owner_pid,)
    else:
        target, args = _watch_parent, (owner_pid, _start_time(owner_pid), parent)
    threading.Thread(target=target, args=args, name="fcnstudio-pool-watchdog", daemon=True).start()


def _set_parent_death_signal() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _start_time(pid: int) -> str | None:
    """Linux: when ``pid`` started (field 22 of /proc/PID/stat); None when it is gone or has exited."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _alive(pid: int, started: str | None) -> bool:
    if started is not None:  # Linux
        return _start_time(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _watch_parent(owner_pid: int, owner_started: str | None, parent: int) -> None:
    while os.getppid() == parent and _alive(owner_pid, owner_started):
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)  # orphaned: nobody will read what this worker computes


def _watch_owner_handle(owner_pid: int) -> None:
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(_SYNCHRONIZE, False, owner_pid)
    if not handle:
        os._exit(1)  # the owner is gone already
    kernel32.WaitForSingleObject(handle, _INFINITE)
    os._exit(1)
