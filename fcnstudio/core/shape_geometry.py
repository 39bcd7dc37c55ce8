"""Shape geometry for the editing tools, in numpy only: the brush's capsule, and clipping to a box.

Kept apart from :mod:`fcnstudio.core.edits` (which turns shapes into
:class:`~fcnstudio.core.edits.Change` objects): these functions know nothing
of masks or classes, only coordinates. Integer coordinates are pixel centres.
"""

from __future__ import annotations

import numpy as np

__all__ = ["capsule", "clip_polygon", "clip_segment"]


def capsule(ax, ay, bx, by, r, box) -> np.ndarray:
    """Bool over ``box`` (a :class:`~fcnstudio.core.edits.Rect`): pixel centres within r of segment a-b.

    Exact for int inputs: the union of the two end discs and the strip between them; computed in row
    chunks of ~64 Ki px so temporaries stay small even for a huge radius.
    """
    inside = np.empty(box.shape, bool)
    xs = np.arange(box.x0, box.x1, dtype=np.float64)[None, :]
    dx, dy, r2 = bx - ax, by - ay, r * r
    l2 = dx * dx + dy * dy
    rows = max(1, 2**16 // box.width)
    for y in range(box.y0, box.y1, rows):
        ys = np.arange(y, min(y + rows, box.y1), dtype=np.float64)[:, None]
        out = inside[y - box.y0 : y - box.y0 + ys.shape[0]]
        vx, vy = xs - ax, ys - ay
        np.less_equal(vx * vx + vy * vy, r2, out=out)  # disc at a
        if l2 == 0.0:
            continue
        ux, uy = xs - bx, ys - by
        out |= ux * ux + uy * uy <= r2  # disc at b
        t = vx * dx + vy * dy  # projection onto the segment, times l2
        cross = vx * dy - vy * dx  # distance from the line, times sqrt(l2)
        out |= (t > 0) & (t < l2) & (cross * cross <= r2 * l2)
    return inside


def clip_segment(p0, p1, xmin, xmax, ymin, ymax):
    """Liang-Barsky: the part of segment p0-p1 inside the box, or None.

    Only used to keep far-away endpoints from overflowing; a segment whose
    ends are inside the box is returned unchanged (bit-exact geometry).
    """
    (x0, y0), (x1, y1) = p0, p1
    if all(xmin <= x <= xmax for x in (x0, x1)) and all(ymin <= y <= ymax for y in (y0, y1)):
        return p0, p1
    dx, dy = x1 - x0, y1 - y0
    ends = [[0.0, None], [1.0, None]]  # (t, (axis, bound) that set it) for entry, exit
    for p, q, side in ((-dx, x0 - xmin, (0, xmin)), (dx, xmax - x0, (0, xmax)),
                       (-dy, y0 - ymin, (1, ymin)), (dy, ymax - y0, (1, ymax))):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0 and t > ends[0][0]:
            ends[0] = [t, side]
        elif p > 0 and t < ends[1][0]:
            ends[1] = [t, side]
        if ends[0][0] > ends[1][0]:
            return None
    out = []
    for t, side in ends:
        pt = [x0 + t * dx, y0 + t * dy]
        if side is not None:
            pt[side[0]] = side[1]  # exact on the box edge (no cancellation)
        out.append(tuple(pt))
    return out[0], out[1]


def clip_polygon(pts: np.ndarray, xmin, xmax, ymin, ymax) -> np.ndarray:
    """Sutherland-Hodgman clip of an (N, 2) polygon to a box (vectorised per side)."""
    for axis, bound, keep_below in ((0, xmin, False), (0, xmax, True), (1, ymin, False), (1, ymax, True)):
        if len(pts) == 0:
            break
        nxt = np.roll(pts, -1, axis=0)
        a, b = pts[:, axis], nxt[:, axis]
        ins_a = a <= bound if keep_below else a >= bound
        ins_b = b <= bound if keep_below else b >= bound
        cross = ins_a != ins_b
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, (bound - a) / (b - a), 0.0)
        inter = pts + t[:, None] * (nxt - pts)
        inter[cross, axis] = bound
        out = np.stack([pts, inter], axis=1).reshape(-1, 2)
        keep = np.stack([ins_a, cross], axis=1).reshape(-1)
        pts = out[keep]
    return pts
