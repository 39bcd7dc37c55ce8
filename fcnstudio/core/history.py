"""Undo/redo for one mask as compressed patches of changed regions.

A *step* is what one Ctrl+Z undoes: a whole brush stroke, one fill, one
polygon. The caller groups the :class:`~fcnstudio.core.edits.Change` objects
of a stroke::

    with history.step():              # or history.begin() ... history.end()
        for p0, p1 in segments:
            history.record(brush(mask, p0, p1, radius=12, value=cls))
    history.record(fill(mask, (x, y), value=cls))   # outside a step: a step of its own
    dirty = history.undo(mask)        # Rect to repaint, or None

Undo restores every pixel to its value before the step, even if the stroke
touched it several times; undo followed by redo is the identity, bit for bit.

Each step is stored as compressed patches (:mod:`fcnstudio.core.patches`).
A stroke's segments are merged into one patch at ``end()`` when their union
box is small; otherwise they are kept as a sequence of patches, so memory and
time always follow the edited region.

Memory: histories share a :class:`HistoryBudget` (default 256 MiB for all
open images). Over budget, the globally oldest steps are dropped first, but a
history always keeps its most recent step (the one Ctrl+Z would undo next).
Each history also keeps at most ``max_steps`` steps (default 500).
"""

from __future__ import annotations

import itertools
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from fcnstudio.core.edits import Change, Rect
from fcnstudio.core.patches import Patch, merge_patches

__all__ = ["DEFAULT_BUDGET_BYTES", "DEFAULT_MAX_STEPS", "STEP_OVERHEAD", "History", "HistoryBudget"]

DEFAULT_BUDGET_BYTES = 256 * 2**20
DEFAULT_MAX_STEPS = 500
# Python object bytes per step (objects, headers, ints), added to its patches'
# sizes (see PATCH_OVERHEAD) so nbytes does not undercount many tiny steps.
STEP_OVERHEAD = 256


@dataclass(frozen=True, eq=False, slots=True)
class _Step:
    seq: int  # from the budget: global age across histories
    rect: Rect  # union of the patches' rects (the dirty rect)
    patches: tuple[Patch, ...]

    @property
    def nbytes(self) -> int:
        return STEP_OVERHEAD + sum(p.nbytes for p in self.patches)


class HistoryBudget:
    """A memory budget shared by the histories of all open images.

    Create one per application and pass it to every :class:`History`. When
    the histories together hold more than ``max_bytes``, the globally oldest
    steps are dropped until they fit; each history keeps its most recent step
    regardless, so the total can exceed ``max_bytes`` only by those.
    Histories are held weakly: a deleted history stops counting.
    """

    def __init__(self, max_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._histories: weakref.WeakSet[History] = weakref.WeakSet()
        self._seq = itertools.count()
        self.max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The cap in bytes; setting it drops old steps at once if needed."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"max_bytes must be an int >= 0 (e.g. 256 * 2**20); got {value!r}")
        self._max_bytes = int(value)
        self._enforce()

    @property
    def nbytes(self) -> int:
        """Bytes held by all live histories sharing this budget."""
        return sum(h.nbytes for h in list(self._histories))

    def _attach(self, history: History) -> None:
        self._histories.add(history)

    def _next_seq(self) -> int:
        return next(self._seq)

    def _enforce(self) -> None:
        histories = list(self._histories)
        total = sum(h.nbytes for h in histories)
        while total > self.max_bytes:
            best = None
            for h in histories:
                step = h._evictable()
                if step is not None and (best is None or step.seq < best[1].seq):
                    best = (h, step)
            if best is None:
                return  # only protected (most recent) steps left
            total -= best[0]._drop(best[1])


class History:
    """Undo/redo stack of one mask of ``shape`` and ``dtype``.

    Args:
        shape: ``(height, width)`` of the mask.
        dtype: the mask dtype (``uint8`` or ``uint16``).
        budget: shared :class:`HistoryBudget`; None gives this history a
            private budget of ``DEFAULT_BUDGET_BYTES``.
        max_steps: most steps kept (>= 1), oldest dropped first.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        dtype: np.dtype | type = np.uint8,
        *,
        budget: HistoryBudget | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape must be (height, width); got {shape!r}") from None
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (height, width) of a 2-D mask; got {shape!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ValueError(f"dtype must be uint8 or uint16 (the mask's dtype); got {dtype}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1; got {max_steps!r}")
        self.shape: tuple[int, int] = shape
        self.dtype: np.dtype = dtype
        self.max_steps = max_steps
        self.budget = budget if budget is not None else HistoryBudget()
        self.budget._attach(self)
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._pending: list[Patch] | None = None
        self._nbytes = 0  # stored steps; pending patches are added in nbytes

    @classmethod
    def for_mask(cls, mask: np.ndarray, **kwargs) -> History:
        """A history for ``mask``'s shape and dtype (kwargs as for ``History``)."""
        return cls(mask.shape, mask.dtype, **kwargs)

    # ------------------------------------------------------------ state
    @property
    def nbytes(self) -> int:
        """Estimated bytes held: compressed payloads + per-patch overhead."""
        pending = sum(p.nbytes for p in self._pending) if self._pending else 0
        return self._nbytes + pending

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_count(self) -> int:
        return len(self._undo)

    @property
    def redo_count(self) -> int:
        return len(self._redo)

    @property
    def in_step(self) -> bool:
        """True between ``begin()`` and ``end()``."""
        return self._pending is not None

    def clear(self) -> None:
        """Drop every step; an open step stays open, emptied."""
        self._undo.clear()
        self._redo.clear()
        if self._pending is not None:
            self._pending = []
        self._nbytes = 0

    # ------------------------------------------------------------ recording
    def begin(self) -> None:
        """Start one undo step (a stroke); record its changes, then ``end()``."""
        if self._pending is not None:
            raise ValueError("begin() called while a step is open: call end() first")
        self._pending = []

    def record(self, change: Change | None) -> None:
        """Record an applied Change (None is ignored).

        Inside ``begin()``/``end()`` it joins the open step; otherwise it
        becomes a step of its own.
        """
        if change is None:
            return
        self._check_change(change)
        patch = Patch.from_change(change)
        if patch is None:
            return
        if self._pending is not None:
            self._pending.append(patch)
        else:
            self._push((patch,))

    def end(self) -> bool:
        """Close the open step; return True when it changed pixels and was stored."""
        if self._pending is None:
            raise ValueError("end() called without begin(): call begin() before recording a stroke")
        patches, self._pending = self._pending, None
        if len(patches) > 1:
            patches = merge_patches(patches, self.dtype)
        if not patches:
            return False
        self._push(tuple(patches))
        return True

    @contextmanager
    def step(self) -> Iterator[History]:
        """``with history.step(): ...`` = ``begin()`` ... ``end()`` (ends on errors too)."""
        self.begin()
        try:
            yield self
        finally:
            self.end()

    # ------------------------------------------------------------ undo / redo
    def undo(self, mask: np.ndarray) -> Rect | None:
        """Revert the last step in ``mask`` (in place); return its dirty Rect or None.

        ``mask`` must be in the state the history left it (edits made without
        recording them would be partly overwritten).
        """
        self._check_mask(mask, "undo")
        if not self._undo:
            return None
        step = self._undo.pop()
        for patch in reversed(step.patches):
            patch.write(mask, "old")
        self._redo.append(step)
        return step.rect

    def redo(self, mask: np.ndarray) -> Rect | None:
        """Re-apply the last undone step in ``mask``; return its dirty Rect or None."""
        self._check_mask(mask, "redo")
        if not self._redo:
            return None
        step = self._redo.pop()
        for patch in step.patches:
            patch.write(mask, "new")
        self._undo.append(step)
        return step.rect

    # ------------------------------------------------------------ internals
    def _push(self, patches: tuple[Patch, ...]) -> None:
        rect = patches[0].rect
        for p in patches[1:]:
            rect = rect.union(p.rect)
        step = _Step(self.budget._next_seq(), rect, patches)
        for dropped in self._redo:
            self._nbytes -= dropped.nbytes
        self._redo.clear()
        self._undo.append(step)
        self._nbytes += step.nbytes
        while len(self._undo) > self.max_steps:
            self._drop(self._undo[0])
        self.budget._enforce()

    def _evictable(self) -> _Step | None:
        """The step this history would give up first; never its most recent one."""
        if len(self._undo) >= 2:
            return self._undo[0]
        if self._redo and (self._undo or len(self._redo) >= 2):
            return self._redo[0]  # the farthest redo
        return None

    def _drop(self, step: _Step) -> int:
        if self._undo and self._undo[0] is step:
            self._undo.pop(0)
        elif self._redo and self._redo[0] is step:
            self._redo.pop(0)
        else:
            raise RuntimeError("only the oldest undo or farthest redo step can be dropped")
        self._nbytes -= step.nbytes
        return step.nbytes

    def _check_mask(self, mask: np.ndarray, what: str) -> None:
        if self._pending is not None:
            raise ValueError(f"{what}() while a step is open: call end() first")
        if not isinstance(mask, np.ndarray) or mask.shape != self.shape or mask.dtype != self.dtype:
            got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise ValueError(
                f"{what}() needs the mask this history belongs to ({self.dtype} {self.shape}); "
                f"got {got}"
            )
        if not mask.flags.writeable:
            raise ValueError(f"{what}() needs a writeable mask")

    def _check_change(self, change: Change) -> None:
        if not isinstance(change, Change):
            raise ValueError(f"record() takes a Change from fcnstudio.core.edits; got {type(change).__name__}")
        if change.old.dtype != self.dtype:
            raise ValueError(f"change is for a {change.old.dtype} mask; this history is {self.dtype}")
        r = change.rect
        if r.y1 > self.shape[0] or r.x1 > self.shape[1]:
            raise ValueError(f"change rect {r} lies outside this history's mask {self.shape}")
