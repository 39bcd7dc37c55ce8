"""Telling JPEG damage from interpolation in a mask that no longer says which it went through.

Both leave values that are not the mask's classes, near class edges. They
differ in where and how:

- **JPEG** (a mask saved as JPEG once, then decoded and saved as PNG) works on
  8×8 blocks: the damage *rings* up to ~8 px away from an edge, with values on
  both sides of the class values, and it stops at the block grid — the damaged
  pixels away from edges all sit in blocks that contain an edge, for one grid
  offset much more than for the others.
  The damage also jumps at the block grid (see :func:`blockiness`).
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

K3 = np.ones((3, 3), np.uint8)
K5 = np.ones((5, 5), np.uint8)
#: Damaged pixels this far from the nearest class edge (px) are ringing, not a ramp ...
RING_FROM, RING_TO = 2.5, 11.0
#: ... and a mask rings when this share of its damaged pixels does.
MIN_RINGING = 0.4
#: Block structure: the best 8x8 grid offset holds this much more of the off-edge damage than the median offset.
MIN_BLOCK_GAP = 0.1
MIN_FAR_PIXELS = 16
#: ... or the damage jumps this many times more across one line of the 8-px grid (with this many jumps seen).
MIN_BLOCKINESS = 3.0
MIN_JUMPS = 32


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


def blockiness(a: np.ndarray, clean: np.ndarray, edges: np.ndarray) -> float:
    """How much larger the jumps of the damage (``a - clean``) are across one column/row of the 8-px grid than elsewhere.

    Only pixel pairs away from class edges count. JPEG quantises each 8x8 block
    on its own, so its errors jump at the block grid; a resize has no grid.
    Returns max/median of the mean jump over the 8 grid positions, 0 without
    enough evidence.
    """
    near = cv2.dilate(edges.view(np.uint8), K3) > 0
    r = a.astype(np.int32) - clean.astype(np.int32)
    sums, counts, jumps = np.zeros(8), np.zeros(8), 0
    for axis in (0, 1):
        d = np.abs(np.diff(r, axis=axis))
        ok = ~(near[:-1] | near[1:]) if axis == 0 else ~(near[:, :-1] | near[:, 1:])
        pos = (np.nonzero(ok)[axis] % 8)
        sums += np.bincount(pos, weights=d[ok], minlength=8)
        counts += np.bincount(pos, minlength=8)
        jumps += int(np.count_nonzero(d[ok]))
    mean = sums / np.maximum(1, counts)
    med = float(np.median(mean))
    if jumps < MIN_JUMPS:
        return 0.0
    return float(mean.max()) / med if med > 0 else float("inf")  # jumps only on grid lines: blocks


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
    enough = int(far.sum()) >= MIN_FAR_PIXELS
    ringing = float(far.mean()) if len(d) else 0.0
    off = d >= 1.5
    blocks = (enough and block_gap(a.shape, edges, ys[off], xs[off]) >= MIN_BLOCK_GAP) or blockiness(a, clean, edges) >= MIN_BLOCKINESS
    if not blocks and not (enough and ringing >= MIN_RINGING):
        return ""
    lo, hi = cv2.erode(clean, K5)[ys, xs], cv2.dilate(clean, K5)[ys, xs]
    v = a[ys, xs]
    beyond = float(np.mean((v < lo) | (v > hi)))
    parts = [f"damage up to 8 px from edges ({ringing * 100:.0f} % of it over 2 px away)"]
    if beyond >= 0.1:
        parts.append(f"values on both sides of the class values ({beyond * 100:.0f} % beyond them)")
    if blocks:
        parts.append("8x8 block structure")
    return ", ".join(parts)
