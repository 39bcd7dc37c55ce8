"""Telling JPEG damage from interpolation in a mask that no longer says which it went through.

Both leave values that are not the mask's classes, near class edges. They
differ in where and how:

- **JPEG** (a mask saved as JPEG once, then decoded and saved as PNG) works on
  8×8 blocks: the damage *rings* up to ~8 px away from an edge, with values on
  both sides of the class values, and it stops at the block grid — the damaged
  pixels away from edges all sit in blocks that contain an edge, for one grid
  offset much more than for the others.
- **Interpolation** (a smooth resize) leaves monotone in-between values only on
  the borders themselves (within 1-2 px of where the classes meet), the same
  for every grid offset.

:func:`jpeg_trace` returns the JPEG evidence it found as words for the
finding's message, or "" when there is none. Only called for masks already
found damaged, so its cost (a median blur, a distance transform, 64 grid offsets
over the damaged pixels) does not touch clean masks.
"""

from __future__ import annotations

import cv2
import numpy as np

K5 = np.ones((5, 5), np.uint8)
#: Damaged pixels this far from the nearest class edge (px) are ringing, not a ramp ...
RING_FROM, RING_TO = 2.5, 11.0
#: ... and a mask rings when this share of its damaged pixels does.
MIN_RINGING = 0.4
#: Block structure: the best 8x8 grid offset holds this much more of the off-edge damage than the median offset.
MIN_BLOCK_GAP = 0.1
MIN_FAR_PIXELS = 16


def snap(a: np.ndarray, classes) -> np.ndarray:
    """Every pixel to the nearest of ``classes`` (same dtype as ``a``)."""
    cls = np.array(sorted({int(c) for c in classes}), np.int64)
    top = int(a.max(initial=0))
    span = np.arange(top + 1)
    i = np.clip(np.searchsorted(cls, span), 1, max(1, len(cls) - 1))
    lo, hi = cls[np.clip(i - 1, 0, len(cls) - 1)], cls[np.clip(i, 0, len(cls) - 1)]
    lut = np.where(np.abs(span - lo) <= np.abs(hi - span), lo, hi).astype(a.dtype)
    return cv2.LUT(a, np.pad(lut, (0, 256 - len(lut)))) if a.dtype == np.uint8 else lut[a]


def _edges(clean: np.ndarray) -> np.ndarray:
    e = np.zeros(clean.shape, bool)
    dx = clean[:, 1:] != clean[:, :-1]
    dy = clean[1:] != clean[:-1]
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    e[1:] |= dy
    e[:-1] |= dy
    return e


def block_gap(shape: tuple[int, int], edges: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> float:
    """How much more of the pixels (ys, xs) lie in 8x8 blocks holding an edge for the best grid offset than the median one."""
    ey, ex = np.nonzero(edges)
    gh, gw = shape[0] // 8 + 2, shape[1] // 8 + 2
    scores = []
    for oy in range(8):
        for ox in range(8):
            grid = np.zeros((gh, gw), bool)
            grid[(ey + oy) // 8, (ex + ox) // 8] = True
            scores.append(float(np.mean(grid[(ys + oy) // 8, (xs + ox) // 8])))
    return max(scores) - float(np.median(scores))


def jpeg_trace(a: np.ndarray, classes) -> str:
    """The JPEG evidence in a 2-D uint8/uint16 mask whose class values are ``classes``; "" if none."""
    if a.ndim != 2 or a.dtype not in (np.uint8, np.uint16) or len(classes) == 0:
        return ""
    clean = cv2.medianBlur(snap(a, classes), 3)
    damaged = a != clean
    edges = _edges(clean)
    if not edges.any():
        return ""
    dist = cv2.distanceTransform((~edges).view(np.uint8), cv2.DIST_L2, 3)
    ys, xs = np.nonzero(damaged)
    d = dist[ys, xs]
    far = (d >= RING_FROM) & (d <= RING_TO)
    if int(far.sum()) < MIN_FAR_PIXELS:
        return ""
    ringing = float(far.mean())
    off = d >= 1.5
    gap = block_gap(a.shape, edges, ys[off], xs[off])
    if gap < MIN_BLOCK_GAP and ringing < MIN_RINGING:
        return ""
    lo, hi = cv2.erode(clean, K5)[ys, xs], cv2.dilate(clean, K5)[ys, xs]
    v = a[ys, xs]
    beyond = float(np.mean((v < lo) | (v > hi)))
    parts = [f"damage up to 8 px from edges ({ringing * 100:.0f} % of it over 2 px away)"]
    if beyond >= 0.1:
        parts.append(f"values on both sides of the class values ({beyond * 100:.0f} % beyond them)")
    if gap >= MIN_BLOCK_GAP:
        parts.append("8x8 block structure")
    return ", ".join(parts)
