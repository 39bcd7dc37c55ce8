"""The per-mask transforms of the fixes: pure functions of an array, tested on their own.

:mod:`fcnstudio.core.fixes` picks one per file (from what the check learnt
about the dataset), plans and writes; the table of code → transform is there.
"""

from __future__ import annotations

import cv2
import numpy as np

from .checker import encodings as enc

#: Values this close to a whole number are rounded by the non-integer-mask fix.
FLOAT_TOLERANCE = 1e-3


class FixRefused(ValueError):
    """One mask the fix will not change (the reason is the message)."""


def binary_to_index(mask: np.ndarray) -> np.ndarray:
    """0/255 (or 0/65535) → 0/1. Values in between go to the nearer end (a damaged 0/255 mask)."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype.kind not in "ui":
        raise FixRefused(f"binary-255 expects a single-channel integer mask, got {mask.dtype} {mask.shape}")
    top = 65535 if mask.dtype.itemsize > 1 and mask.max() > 255 else 255
    return (mask >= (top + 1) // 2).astype(np.uint8)


def colors_to_index(rgb: np.ndarray, color_map: dict[int, int]) -> np.ndarray:
    """RGB(A) mask → class indices through ``color_map`` (packed 0xRRGGBB → index).

    Colours not in the map (JPEG noise, anti-aliased edges) take the class of
    the nearest mapped colour.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    elif rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(np.nan_to_num(rgb.astype(np.float64))), 0, 255).astype(np.uint8)
    if not color_map:
        raise FixRefused("no colour → class map is known for this mask")
    idx, _ = enc.nearest_color_index(rgb[..., :3], color_map)
    return idx.astype(np.uint8 if idx.max(initial=0) < 256 else np.uint16)


def luminance_to_index(grey: np.ndarray, table: dict[int, int]) -> np.ndarray:
    """Grey brightness of VOC colours → VOC class index (other values: the nearest brightness's class)."""
    grey = np.asarray(grey)
    if grey.ndim != 2 or grey.dtype.kind not in "ui" or grey.max(initial=0) > 255:
        raise FixRefused("a palette-brightness mask must be 8-bit single-channel")
    keys = np.array(sorted(table), np.int64)
    lut = np.zeros(256, np.uint8)
    for v in range(256):
        c = enc.luminance_class(v, table)
        if c is None:
            c = table[int(keys[np.argmin(np.abs(keys - v))])]
        lut[v] = c
    return lut[grey.astype(np.uint8)]


def snap_to_values(mask: np.ndarray, values) -> np.ndarray:
    """Every pixel to the nearest of ``values`` (ties go to the lower value)."""
    mask = np.asarray(mask)
    vals = np.array(sorted({int(v) for v in values}), np.int64)
    if mask.ndim != 2 or mask.dtype.kind not in "ui" or len(vals) == 0:
        raise FixRefused("lossy-mask needs a single-channel integer mask and its class values")
    top = int(mask.max(initial=0))
    span = np.arange(top + 1, dtype=np.int64)
    i = np.clip(np.searchsorted(vals, span), 1, len(vals) - 1) if len(vals) > 1 else np.zeros(top + 1, np.int64)
    if len(vals) > 1:
        lo, hi = vals[i - 1], vals[i]
        lut = np.where(span - lo <= hi - span, lo, hi)
    else:
        lut = np.full(top + 1, vals[0])
    out = lut[mask]
    return out.astype(np.uint8 if out.max(initial=0) < 256 else np.uint16)


def fill_from_neighbours(mask: np.ndarray, values, max_rounds: int = 32) -> np.ndarray:
    """Replace every pixel not in ``values`` by the most common of ``values`` among its 8 neighbours.

    Works inwards from the class regions, one ring per round (wide ramps of an
    upscaled mask need several); what is left after ``max_rounds`` snaps to the
    nearest value.
    """
    mask = np.asarray(mask)
    vals = sorted({int(v) for v in values})
    if mask.ndim != 2 or mask.dtype.kind not in "ui" or not vals:
        raise FixRefused("interpolation-artifacts needs a single-channel integer mask and its class values")
    out = mask.astype(np.int64)
    known = np.isin(out, vals)
    kernel = np.ones((3, 3), np.float32)
    for _ in range(max_rounds):
        todo = ~known
        if not todo.any():
            break
        best = np.full(out.shape, -1, np.int64)
        best_n = np.zeros(out.shape, np.float32)
        for v in vals:
            n = cv2.filter2D(((out == v) & known).astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
            take = todo & (n > best_n)
            best[take] = v
            best_n[take] = n[take]
        newly = todo & (best >= 0)
        if not newly.any():
            break
        out[newly] = best[newly]
        known |= newly
    if not known.all():
        out[~known] = snap_to_values(out[~known].reshape(1, -1).astype(np.uint16), vals).ravel()
    return out.astype(np.uint8 if out.max(initial=0) < 256 else np.uint16)


def round_float(mask: np.ndarray, tolerance: float = FLOAT_TOLERANCE) -> np.ndarray:
    """A float mask of whole numbers → integers; refuses anything further than ``tolerance`` from one."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] >= 3 and (mask[..., 0] == mask[..., 1]).all() and (mask[..., 1] == mask[..., 2]).all():
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise FixRefused(f"a float mask with {mask.shape[2]} different channels cannot be rounded to classes")
    if mask.dtype.kind != "f":
        return mask
    if not np.isfinite(mask).all():
        raise FixRefused("the mask holds NaN/Inf values, which are no class; repair it by hand")
    r = np.rint(mask)
    dev = float(np.abs(mask - r).max(initial=0))
    if dev > tolerance:
        raise FixRefused(
            f"values are up to {dev:.3g} from a whole number (a soft or probability mask?); threshold them "
            "instead, e.g. mask > 0.5"
        )
    if r.min(initial=0) < 0 or r.max(initial=0) > 65535:
        raise FixRefused("values outside 0..65535 cannot be class indices")
    return r.astype(np.uint8 if r.max(initial=0) < 256 else np.uint16)
