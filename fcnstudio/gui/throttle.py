"""superqt's ``qthrottled``, made on its first call rather than when the widget is built.

Importing superqt costs ~0.4 s on these machines (its package imports every one
of its widgets through qtpy), and the widgets that throttle their redraws are
built when the window opens: made eagerly, the throttles added 40 % to the
startup. The first call comes with the first training event, when a job has
already imported superqt.
"""

from __future__ import annotations

from typing import Callable

from PyQt6.QtCore import QObject


class LazyThrottle:
    """Calls ``fn`` at most once every ``timeout_ms`` (leading and trailing edge), like ``qthrottled``."""

    def __init__(self, fn: Callable[[], None], timeout_ms: int, parent: QObject) -> None:
        self._fn, self._timeout, self._parent = fn, int(timeout_ms), parent
        self._throttled = None

    def __call__(self) -> None:
        if self._throttled is None:
            from superqt.utils import qthrottled

            self._throttled = qthrottled(self._fn, timeout=self._timeout, parent=self._parent)
        self._throttled()

    def cancel(self) -> None:
        """Drop a pending trailing call (nothing to drop before the first call)."""
        if self._throttled is not None:
            self._throttled.cancel()
