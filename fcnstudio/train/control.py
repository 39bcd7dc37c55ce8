"""Control of a run from any thread: stop and pause flags, and the queue of actions applied between steps.

Everything here is cooperative: the loop looks at the flags between steps, between validation images
and (stop only) before each convolution; a queued action waits for the next step.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from .config import MAX_LR, TrainConfig

__all__ = ["ACTIONS", "RunControl"]

#: What :meth:`RunControl.queue` accepts (``open_checker`` is the GUI's business and is dropped).
ACTIONS = ("lr", "loss", "class_weights", "open_checker")


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict = {}

    def stop(self) -> None:
        self._stop.set()
        self._pause.clear()

    def pause(self) -> None:
        if not self._stop.is_set():
            self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def paused(self) -> bool:
        return self._pause.is_set()

    def queue(self, action: dict) -> None:
        """Check ``action`` now (ValueError saying what is wrong) and keep it for :meth:`take`."""
        unknown = set(action) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown action keys {sorted(unknown)}")
        if "lr" in action and not (isinstance(action["lr"], (int, float)) and 0 < action["lr"] <= MAX_LR):
            raise ValueError(f"lr must be a number in (0, {MAX_LR:g}], got {action['lr']!r}")
        if "loss" in action:
            TrainConfig(loss=action["loss"])  # validates the name
        with self._lock:
            self._pending.update({k: v for k, v in action.items() if k != "open_checker"})

    def take(self) -> dict:
        """The actions queued since the last call, merged (later values win)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def wait_while_paused(self, on_pause: Callable[[], None], on_resume: Callable[[], None]) -> float:
        """Block while paused (``on_pause`` first, ``on_resume`` after, a stop included); the seconds paused."""
        if not self._pause.is_set():
            return 0.0
        t = time.monotonic()
        on_pause()
        while self._pause.is_set() and not self._stop.is_set():
            time.sleep(0.02)
        on_resume()
        return time.monotonic() - t
