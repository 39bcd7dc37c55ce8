"""Mask editing tools: brush, eraser, flood fill, polygon fill, eyedropper.

Every tool edits a mask **in place** and returns a :class:`Change` that
describes only the pixels it changed (or ``None`` when nothing changed). The
cost of a tool follows the edited region, not the image: brush and polygon
work only inside the bounding box of the shape, clipped to the image.

Conventions (shared by every tool):

- A mask is a 2-D ``numpy.ndarray`` of dtype ``uint8`` or ``uint16``, indexed
  ``mask[y, x]``, writeable.
- A point is ``(x, y)`` in image pixel coordinates, ints or floats. **Integer
  coordinates are pixel centres**: pixel ``mask[y, x]`` is centred on
  ``(x, y)`` and covers ``[x - 0.5, x + 0.5) x [y - 0.5, y + 0.5)``. (A canvas
  whose pixel ``x`` spans ``[x, x + 1)`` subtracts 0.5 before calling.)
- Points may lie outside the image (a drag that leaves the canvas): every
  shape is clipped to the image. Non-finite coordinates raise ``ValueError``.
- ``value`` is the class index written; it must fit the mask dtype.
- ``preserve=True`` ("preserve labels") paints only over background pixels
  (``== 0``); pixels of other classes are left untouched.

Shapes:

- brush: the capsule of a segment ``p0 -> p1`` (the union of discs of
  ``radius`` centred along it): every pixel whose centre lies at a distance
  ``<= radius`` from the segment. ``p0 == p1`` paints one disc.
- polygon: vertices are rounded to the nearest pixel centre and the polygon is
  filled with ``cv2.fillPoly`` semantics: pixels inside **and on the boundary**
  are filled, so the polygon ``(2, 3), (6, 3), (6, 7), (2, 7)`` fills exactly
  ``mask[3:8, 2:7]``.
- fill: the 4-connected region of pixels holding the clicked pixel's value
  (diagonal neighbours are not connected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .shape_geometry import capsule, clip_polygon, clip_segment

__all__ = ["Change", "Rect", "brush", "erase", "fill", "pick", "polygon", "put"]

Point = Sequence[float]

_MASK_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
#: A brush segment is clipped to the image grown by this many pixels (and its radius) before it is drawn.
CLIP_MARGIN = 1024.0
# Polygon vertices further than this outside the image are clipped first, so
# they stay well inside OpenCV's int32 coordinate range.
_FAR = 2**20


@dataclass(frozen=True, slots=True)
class Rect:
    """Half-open rectangle ``[y0, y1) x [x0, x1)`` in mask pixel indices.

    ``mask[rect.slices]`` is the region; the canvas uses it as the dirty
    rectangle to repaint (``QRect(x0, y0, width, height)``).
    """

    y0: int
    x0: int
    y1: int
    x1: int

    def __post_init__(self) -> None:
        for name in ("y0", "x0", "y1", "x1"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"Rect.{name} must be an int; got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.y1 < self.y0 or self.x1 < self.x0:
            raise ValueError(f"Rect needs y0 <= y1 and x0 <= x1; got {self}")

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``: the shape of ``mask[rect.slices]``."""
        return (self.height, self.width)

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def is_empty(self) -> bool:
        return self.height == 0 or self.width == 0

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices: ``mask[rect.slices]``."""
        return (slice(self.y0, self.y1), slice(self.x0, self.x1))

    def union(self, other: Rect | None) -> Rect:
        """Smallest rect containing both; an empty rect (or None) is ignored."""
        if other is None or other.is_empty:
            return self
        if self.is_empty:
            return other
        return Rect(min(self.y0, other.y0), min(self.x0, other.x0),
                    max(self.y1, other.y1), max(self.x1, other.x1))

    def intersection(self, other: Rect) -> Rect:
        """Overlap of both rects (empty, at ``self``'s corner, when disjoint)."""
        y0, x0 = max(self.y0, other.y0), max(self.x0, other.x0)
        y1, x1 = min(self.y1, other.y1), min(self.x1, other.x1)
        if y1 <= y0 or x1 <= x0:
            return Rect(self.y0, self.x0, self.y0, self.x0)
        return Rect(y0, x0, y1, x1)


@dataclass(frozen=True, eq=False, slots=True)
class Change:
    """The pixels one edit changed, inside its tight bounding rectangle.

    Attributes:
        rect: tight bounding box of the changed pixels, in mask coordinates.
        changed: ``bool`` array of shape ``(rect.height, rect.width)``; True
            where the pixel changed.
        old: the mask's values in ``rect`` before the edit, shape
            ``(rect.height, rect.width)``, the mask's dtype.
        value: the one value every tool writes; after the edit each changed
            pixel holds it.

    The arrays are read-only; a Change never holds a whole-mask copy unless
    the edit itself spans the whole mask.
    """

    rect: Rect
    changed: np.ndarray
    old: np.ndarray
    value: int

    @property
    def new(self) -> np.ndarray:
        """The mask's values in ``rect`` after the edit (computed on access)."""
        return np.where(self.changed, self.old.dtype.type(self.value), self.old)

    @property
    def count(self) -> int:
        """Number of changed pixels."""
        return int(np.count_nonzero(self.changed))

    @property
    def old_values(self) -> np.ndarray:
        """1-D values before the edit at the changed pixels (row-major)."""
        return self.old[self.changed]

    @property
    def new_values(self) -> np.ndarray:
        """1-D values after the edit at the changed pixels (all ``value``)."""
        return np.full(self.count, self.value, self.old.dtype)

    def revert(self, mask: np.ndarray) -> Rect:
        """Write the old values back into ``mask`` (in place); return the dirty rect."""
        view = self._view(mask)
        np.copyto(view, self.old, where=self.changed)
        return self.rect

    def apply(self, mask: np.ndarray) -> Rect:
        """Write the new values into ``mask`` (in place); return the dirty rect."""
        view = self._view(mask)
        np.copyto(view, self.value, where=self.changed)
        return self.rect

    def _view(self, mask: np.ndarray) -> np.ndarray:
        _check_mask(mask)
        if mask.dtype != self.old.dtype:
            raise ValueError(f"this change was made on a {self.old.dtype} mask; got {mask.dtype}: "
                             "apply it to the mask it was made on")
        if self.rect.y1 > mask.shape[0] or self.rect.x1 > mask.shape[1]:
            raise ValueError(f"change rect {self.rect} does not fit a mask of shape {mask.shape}: "
                             "apply it to the mask it was made on")
        return mask[self.rect.slices]


def pick(mask: np.ndarray, point: Point) -> int | None:
    """Eyedropper: the value of the pixel under ``point``, or None outside the image."""
    _check_mask(mask, writeable=False)
    x, y = _point(point)
    ix, iy = math.floor(x + 0.5), math.floor(y + 0.5)
    h, w = mask.shape
    if 0 <= ix < w and 0 <= iy < h:
        return int(mask[iy, ix])
    return None


def brush(
    mask: np.ndarray, p0: Point, p1: Point, *, radius: float, value: int, preserve: bool = False
) -> Change | None:
    """Paint the capsule of segment ``p0 -> p1`` with ``value`` (in place).

    Pixels whose centre is within ``radius`` (px, > 0) of the segment get
    ``value``; with ``preserve`` only those that are background (0). For a
    single click pass ``p1 = p0``. Work and memory are bounded by the
    segment's bounding box (clipped to the image). Returns the Change or None.
    """
    _check_mask(mask)
    value = _check_value(value, mask.dtype)
    r = _check_radius(radius)
    if preserve and value == 0:
        return None
    h, w = mask.shape
    # Clipped only when an end is far outside (overflow): a clipped end is a float, and the capsule is exact for ints.
    m = r + 2.0 + CLIP_MARGIN
    seg = clip_segment(_point(p0), _point(p1), -m, w + m, -m, h + m)
    if seg is None:
        return None
    (ax, ay), (bx, by) = seg
    bx0 = max(0, math.floor(min(ax, bx) - r))
    bx1 = min(w, math.floor(max(ax, bx) + r) + 1)
    by0 = max(0, math.floor(min(ay, by) - r))
    by1 = min(h, math.floor(max(ay, by) + r) + 1)
    if bx0 >= bx1 or by0 >= by1:
        return None
    box = Rect(by0, bx0, by1, bx1)
    return _paint(mask, box, capsule(ax, ay, bx, by, r, box), value, preserve)


def erase(mask: np.ndarray, p0: Point, p1: Point, *, radius: float, value: int = 0) -> Change | None:
    """Eraser: :func:`brush` with the background value (0, or the project's
    ignore value when it declares one: the caller passes it)."""
    return brush(mask, p0, p1, radius=radius, value=value, preserve=False)


def fill(mask: np.ndarray, point: Point, *, value: int, preserve: bool = False) -> Change | None:
    """Flood fill: replace the 4-connected region of the clicked pixel's value.

    With ``preserve`` only a background region (clicked value 0) is filled.
    Returns None when ``point`` is outside the image or nothing changes.
    Uses ``cv2.floodFill`` on a full-size ``uint8`` equality map (one compare
    of the mask); the Change covers the region's bounding box only.
    """
    _check_mask(mask)
    value = _check_value(value, mask.dtype)
    x, y = _point(point)
    ix, iy = math.floor(x + 0.5), math.floor(y + 0.5)
    h, w = mask.shape
    if not (0 <= ix < w and 0 <= iy < h):
        return None
    seed = int(mask[iy, ix])
    if seed == value or (preserve and seed != 0):
        return None
    same = np.equal(mask, seed).view(np.uint8)  # 1 in the seed's class, else 0
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(same, None, (ix, iy), 2, 0, 0, 4)
    rect = Rect(ry, rx, ry + rh, rx + rw)
    region = same[rect.slices] == 2
    view = mask[rect.slices]
    old = view.copy()
    np.copyto(view, value, where=region)
    return _make_change(rect, region, old, value)


def polygon(
    mask: np.ndarray, points: Sequence[Point] | np.ndarray, *, value: int, preserve: bool = False
) -> Change | None:
    """Fill the polygon (or lasso) through ``points`` with ``value`` (in place).

    ``points`` is a sequence or ``(N, 2)`` array of ``(x, y)``; N < 3 fills
    nothing. Vertices are rounded to the nearest pixel centre; the interior
    and the boundary are filled (``cv2.fillPoly``; a self-intersecting lasso
    follows its even-odd rule). Work and memory are bounded by the polygon's
    bounding box, clipped to the image.
    """
    _check_mask(mask)
    value = _check_value(value, mask.dtype)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be a sequence of (x, y) pairs; got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("polygon points must be finite numbers; drop NaN/inf points first")
    if len(pts) < 3 or (preserve and value == 0):
        return None
    h, w = mask.shape
    if pts.min() < -_FAR or pts[:, 0].max() > w + _FAR or pts[:, 1].max() > h + _FAR:
        pts = clip_polygon(pts, -_FAR, w + _FAR, -_FAR, h + _FAR)
        if len(pts) < 3:
            return None
    ipts = np.floor(pts + 0.5).astype(np.int64)
    (x0, y0), (x1, y1) = ipts.min(axis=0), ipts.max(axis=0) + 1
    box = Rect(0, 0, h, w).intersection(Rect(y0, x0, max(y0, y1), max(x0, x1)))
    if box.is_empty:
        return None
    rel = [(ipts - (box.x0, box.y0)).astype(np.int32)]
    view = mask[box.slices]
    if not preserve:
        old = view.copy()
        cv2.fillPoly(view, rel, value)  # writes straight into the mask's region
        return _finish(box, old != view, old, value)
    inside = np.zeros(box.shape, np.uint8)
    cv2.fillPoly(inside, rel, 1)
    return _paint(mask, box, inside.view(bool), value, preserve)


def put(mask: np.ndarray, rect: Rect, where: np.ndarray, value: int) -> Change | None:
    """Write ``value`` into ``mask[rect]`` where ``where`` (a bool array over ``rect``) is True (in place).

    The tool that puts known pixels back, e.g. edits recovered after a crash.
    """
    _check_mask(mask)
    value = _check_value(value, mask.dtype)
    return _paint(mask, rect, np.asarray(where, bool), value, preserve=False)


# --------------------------------------------------------------------------- helpers


def _paint(mask, box: Rect, inside: np.ndarray, value: int, preserve: bool) -> Change | None:
    """Set ``value`` where ``inside`` (a bool array over ``box``) and allowed."""
    view = mask[box.slices]
    # with preserve, value != 0 (callers return early), so view == 0 implies view != value
    cond = inside & (view == 0) if preserve else inside & (view != value)
    tight = _tight(box, cond)
    if tight is None:
        return None
    rect, sub = tight
    view = mask[rect.slices]
    changed = np.ascontiguousarray(cond[sub])
    old = view.copy()
    np.copyto(view, value, where=changed)
    return _make_change(rect, changed, old, value)


def _finish(box: Rect, changed: np.ndarray, old: np.ndarray, value: int) -> Change | None:
    """Crop an already-applied edit (``changed``/``old`` over ``box``) to its tight rect."""
    tight = _tight(box, changed)
    if tight is None:
        return None
    rect, sub = tight
    if rect == box:  # already tight: no need to crop (saves copies on huge polygons)
        return _make_change(rect, changed, old, value)
    return _make_change(rect, changed[sub].copy(), old[sub].copy(), value)


def _tight(box: Rect, cond: np.ndarray) -> tuple[Rect, tuple[slice, slice]] | None:
    """Tight bounding rect of ``cond`` (bool over ``box``) and its slices in ``cond``."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(cond).view(np.uint8))
    if w == 0 or h == 0:
        return None
    rect = Rect(box.y0 + y, box.x0 + x, box.y0 + y + h, box.x0 + x + w)
    return rect, (slice(y, y + h), slice(x, x + w))


def _make_change(rect: Rect, changed: np.ndarray, old: np.ndarray, value: int) -> Change:
    changed.flags.writeable = False
    old.flags.writeable = False
    return Change(rect, changed, old, value)


def _check_mask(mask, writeable: bool = True) -> None:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype not in _MASK_DTYPES:
        got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be a 2-D uint8 or uint16 numpy array indexed [y, x]; got {got}")
    if writeable and not mask.flags.writeable:
        raise ValueError("mask is read-only: pass a writeable array (e.g. mask.copy())")


def _check_value(value, dtype: np.dtype) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"value must be an integer class index; got {value!r}")
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise ValueError(f"value {value} does not fit a {dtype} mask (0..{info.max})")
    return int(value)


def _check_radius(radius) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"radius must be a number of pixels; got {radius!r}") from None
    if not math.isfinite(r) or r <= 0:
        raise ValueError(f"radius must be a finite number of pixels > 0; got {radius!r}")
    return r


def _point(p) -> tuple[float, float]:
    try:
        x, y = p
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        raise ValueError(f"a point must be an (x, y) pair of numbers; got {p!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"point coordinates must be finite; got {p!r}")
    return x, y
