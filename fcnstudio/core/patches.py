"""Compressed patches: one changed region of a mask as its box, a packed bit mask and the old/new values.

Each patch is stored as its bounding rect + a zlib-compressed ``np.packbits``
bit mask of the changed pixels + the old values and the new values, each
either zlib-compressed or, when uniform (the usual case for new values), a
single int. :func:`merge_patches` turns a stroke's patches into one when their
union box is small, so memory and time always follow the edited region.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from fcnstudio.core.edits import Change, Rect

__all__ = ["PATCH_OVERHEAD", "Patch", "merge_patches"]

# Python object bytes per stored patch (objects, headers, ints), added to the
# compressed payloads so nbytes does not undercount many tiny steps (measured
# with tracemalloc: ~500-600 bytes for a one-patch step, with STEP_OVERHEAD).
PATCH_OVERHEAD = 320
_ZLIB_LEVEL = 1
# A stroke's patches are merged into one when the union box is at most this
# many pixels and at most 4x (+64 Ki px) the sum of the patches' own boxes.
_MERGE_MAX_AREA = 2**24


@dataclass(frozen=True, eq=False, slots=True)
class Patch:
    """One compressed changed region.

    ``bits`` is ``zlib(np.packbits(changed))`` for the ``rect``-shaped bool
    array ``changed``; ``old``/``new`` are the values at the changed pixels
    (row-major), as zlib-compressed bytes of the mask dtype, or one int when
    they are all equal.
    """

    rect: Rect
    bits: bytes
    old: bytes | int
    new: bytes | int
    count: int

    @property
    def nbytes(self) -> int:
        """Payload bytes + PATCH_OVERHEAD."""
        size = len(self.bits) + PATCH_OVERHEAD
        for v in (self.old, self.new):
            if isinstance(v, bytes):
                size += len(v)
        return size

    @classmethod
    def from_arrays(
        cls, rect: Rect, changed: np.ndarray, old: np.ndarray, new: np.ndarray | int
    ) -> Patch | None:
        """Compress ``old``/``new`` (rect-shaped, or ``new`` one int for all
        changed pixels) at ``changed``; crop to the tight box.

        Returns None when no pixel changed.
        """
        u8 = np.ascontiguousarray(changed).view(np.uint8)
        x, y, w, h = cv2.boundingRect(u8)
        if w == 0 or h == 0:
            return None
        if (w, h) != (rect.width, rect.height):
            sub = (slice(y, y + h), slice(x, x + w))
            rect = Rect(rect.y0 + y, rect.x0 + x, rect.y0 + y + h, rect.x0 + x + w)
            changed, old = np.ascontiguousarray(changed[sub]), old[sub]
            new = new if isinstance(new, int) else new[sub]
            u8 = changed.view(np.uint8)
        count = int(cv2.countNonZero(u8))
        bits = zlib.compress(np.packbits(changed).tobytes(), _ZLIB_LEVEL)
        return cls(rect, bits, _pack(old, changed, u8), _pack(new, changed, u8), count)

    @classmethod
    def from_change(cls, change: Change) -> Patch | None:
        return cls.from_arrays(change.rect, change.changed, change.old, int(change.value))

    def changed(self) -> np.ndarray:
        """The bool changed-pixel array, shape ``rect.shape``."""
        flat = np.unpackbits(np.frombuffer(zlib.decompress(self.bits), np.uint8), count=self.rect.area)
        return flat.reshape(self.rect.shape).view(bool)

    def values(self, which: str, dtype: np.dtype) -> np.ndarray | int:
        """The old (``which="old"``) or new values at the changed pixels."""
        v = self.old if which == "old" else self.new
        if isinstance(v, int):
            return v
        return np.frombuffer(zlib.decompress(v), dtype)

    def write(self, mask: np.ndarray, which: str) -> None:
        """Write the old or new values into ``mask`` in place."""
        view = mask[self.rect.slices]
        changed = self.changed()
        vals = self.values(which, mask.dtype)
        if isinstance(vals, int):
            np.copyto(view, vals, where=changed)
        else:
            view[changed] = vals


def _pack(values: np.ndarray | int, changed: np.ndarray, u8: np.ndarray) -> bytes | int:
    if isinstance(values, int):
        return values
    lo, hi, _, _ = cv2.minMaxLoc(np.ascontiguousarray(values), mask=u8)
    if lo == hi:
        return int(lo)
    return zlib.compress(values[changed].tobytes(), _ZLIB_LEVEL)



def merge_patches(patches: list[Patch], dtype: np.dtype) -> list[Patch]:
    """Merge a stroke's patches into one when their union box is small.

    Old values come from the earliest patch touching a pixel, new values from
    the latest; pixels that end where they started are dropped.
    """
    union = patches[0].rect
    for p in patches[1:]:
        union = union.union(p.rect)
    own = sum(p.rect.area for p in patches)
    if union.area > min(_MERGE_MAX_AREA, 4 * own + 2**16):
        return patches
    changed = np.zeros(union.shape, bool)
    old = np.zeros(union.shape, dtype)
    new = np.zeros(union.shape, dtype)
    parts = []
    for p in patches:
        sub = (slice(p.rect.y0 - union.y0, p.rect.y1 - union.y0),
               slice(p.rect.x0 - union.x0, p.rect.x1 - union.x0))
        c = p.changed()
        parts.append((sub, c))
        new[sub][c] = p.values("new", dtype)
        changed[sub] |= c
    for p, (sub, c) in zip(reversed(patches), reversed(parts)):
        old[sub][c] = p.values("old", dtype)
    changed &= old != new
    merged = Patch.from_arrays(union, changed, old, new)
    return [merged] if merged is not None else []
