"""The small types an editing session shares with what observes it: its events, its error, a pair's status.

They live apart from :mod:`fcnstudio.core.session` so that observers (the
recovery follower, the widgets) can name them without importing the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["ASK_CANCEL", "ASK_DISCARD", "ASK_SAVE", "Event", "PairStatus", "SessionError"]

#: Answers of the ``ask`` callback used when unsaved edits must be resolved.
ASK_SAVE, ASK_DISCARD, ASK_CANCEL = "save", "discard", "cancel"


class SessionError(ValueError):
    """An action the session refuses; the message says why and what to do."""


class Event:
    """A list of plain callbacks: ``event.connect(fn)``, ``event.emit(*args)``."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: list[Callable] = []

    def connect(self, callback: Callable) -> Callable:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable) -> None:
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, *args) -> None:
        for callback in tuple(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


@dataclass(frozen=True)
class PairStatus:
    """What the pair list shows for one pair."""

    unsaved: bool = False
    errors: int = 0
    no_mask: bool = False
    unreadable: bool = False
