"""The array math behind what the canvas draws, in numpy only (no Qt, so it is tested without a window).

- :func:`build_lut`: mask value → ARGB32 colour of the overlay (class colours;
  background and hidden classes transparent, the ignore value light grey,
  values with no class magenta);
- :func:`contour_edges`: the pixels of a region that border another value;
- :func:`auto_levels` and :func:`to_display`: the contrast of a 16-bit or float
  image and its 8-bit version for the screen.
"""

from __future__ import annotations

import numpy as np

from fcnstudio.core.edits import Rect

IGNORE_COLOR = (224, 224, 192)
NO_CLASS_COLOR = (255, 0, 255)


def build_lut(colors, size: int, *, hidden=(), ignore_index: int | None = None) -> np.ndarray:
    """uint32 ARGB32 (premultiplied, alpha 0 or 255) colour for each mask value.

    Class 0 (background) and hidden classes are transparent; the ignore value
    is light grey; values with no class are magenta.
    """
    lut = np.full(size, _argb(NO_CLASS_COLOR), np.uint32)
    for i, c in enumerate(colors[:size]):
        lut[i] = _argb(c)
    if ignore_index is not None and ignore_index < size:
        lut[ignore_index] = _argb(IGNORE_COLOR)
    lut[0] = 0
    for i in hidden:
        if 0 <= i < size:
            lut[i] = 0
    return lut


def _argb(c) -> int:
    r, g, b = (int(v) for v in c[:3])
    return (255 << 24) | (r << 16) | (g << 8) | b


def grown(rect: Rect, shape: tuple[int, int]) -> Rect:
    """``rect`` one pixel larger on each side, clipped to an array of ``shape``."""
    h, w = shape
    return Rect(max(0, rect.y0 - 1), max(0, rect.x0 - 1), min(h, rect.y1 + 1), min(w, rect.x1 + 1))


def contour_edges(mask: np.ndarray, rect: Rect) -> np.ndarray:
    """Bool array over ``rect``: pixels with a 4-neighbour of another value."""
    h, w = mask.shape  # the one-pixel border around ``rect`` as plain ints (this runs on every edit)
    Y0, X0 = max(0, rect.y0 - 1), max(0, rect.x0 - 1)
    Y1, X1 = min(h, rect.y1 + 1), min(w, rect.x1 + 1)
    m = mask[Y0:Y1, X0:X1]
    edge = np.zeros(m.shape, bool)
    d = m[1:, :] != m[:-1, :]
    edge[1:, :] |= d
    edge[:-1, :] |= d
    d = m[:, 1:] != m[:, :-1]
    edge[:, 1:] |= d
    edge[:, :-1] |= d
    return edge[rect.y0 - Y0 : rect.y0 - Y0 + rect.height, rect.x0 - X0 : rect.x0 - X0 + rect.width]


def auto_levels(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """The ``low``/``high`` percentiles of an image's values (all channels)."""
    if image.dtype == np.uint16:
        hist = np.bincount(image.ravel(), minlength=65536)
        cum = np.cumsum(hist)
        total = cum[-1]
        lo = int(np.searchsorted(cum, total * low / 100.0))
        hi = int(np.searchsorted(cum, total * high / 100.0))
    else:
        flat = image.ravel()
        if flat.size > 2_000_000:
            flat = flat[:: flat.size // 1_000_000]
        flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
        if flat.size == 0:
            return 0.0, 1.0
        lo, hi = (float(v) for v in np.percentile(flat, [low, high]))
    if hi <= lo:
        hi = lo + 1
    return float(lo), float(hi)


def value_range(image: np.ndarray) -> tuple[float, float]:
    """Smallest and largest finite value of an image ((0, 1) when it has none)."""
    finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def to_display(image: np.ndarray, levels: tuple[float, float] | None = None) -> np.ndarray:
    """An 8-bit, C-contiguous array to show: H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA).

    8-bit images are shown as they are; other depths through ``levels``
    (values ``lo``..``hi`` stretched to 0..255).
    """
    if image.ndim == 3 and image.shape[2] == 2:
        image = image[:, :, 0]
    if image.dtype != np.uint8:
        lo, hi = levels if levels is not None else auto_levels(image)
        if image.dtype == np.uint16:
            ramp = (np.arange(65536, dtype=np.float32) - lo) * (255.0 / (hi - lo))
            image = np.take(np.clip(ramp, 0, 255).astype(np.uint8), image)
        else:
            scaled = (np.nan_to_num(image.astype(np.float32)) - lo) * (255.0 / (hi - lo))
            image = np.clip(scaled, 0, 255).astype(np.uint8)
    image = np.ascontiguousarray(image)
    if image.ndim == 2 or image.shape[2] == 3:
        return image
    return np.ascontiguousarray(image[:, :, :4])
