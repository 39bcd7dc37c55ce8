"""Keep Python's cyclic garbage collector from freezing the window during training.

A full (generation 2) collection walks every object the collector tracks, and
once torch, the network, the data cache and (in the window) Qt are loaded that
walk holds the GIL for 100–160 ms: every thread, the window's included, stops
that long, a few times a run (measured with ``bench/training.py``: the
event loop's worst tick went from 156 ms to 11 ms with this). While the
training loop runs, the objects that existed when it started are frozen out
of every collection (:func:`gc.freeze`); when the run ends they are unfrozen,
so whatever of them becomes garbage later is collected as usual.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

__all__ = ["frozen_heap"]

_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the tracked objects for the ``with`` block; the last block to end (of nested or concurrent
    ones) unfreezes them."""
    global _depth
    with _lock:
        _depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()
