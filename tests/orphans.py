"""Find a process's descendants through /proc, kill it, and wait for them all to end (Linux only).

Used by the tests that SIGKILL a ``check`` / ``fix`` / the Checker dock mid-run
and assert that no pool worker (nor fork server, nor resource tracker) lives on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """True unless ``pid`` has exited (a zombie, waiting to be reaped, has exited)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] not in ("Z", "X"):
                parents[int(entry)] = st[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return found


def kill_once_children(proc: subprocess.Popen, at_least: int, timeout: float = 120.0) -> set[int]:
    """SIGKILL ``proc`` as soon as it has ``at_least`` descendants; return them (the kill was mid-run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before its pool workers were seen"
        kids = descendants(proc.pid)
        if len(kids) >= at_least:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return kids
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    raise AssertionError(f"no {at_least} child processes within {timeout} s")


def wait_all_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """Poll until none of ``pids`` is alive or ``timeout`` passes; return those still alive."""
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left
