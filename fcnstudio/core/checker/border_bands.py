"""Thin bands of an in-between class along class borders: a multi-class mask resized smoothly.

Resizing a class-index mask with linear, cubic or area interpolation turns the
border between road = 3 and car = 8 into a ramp 3 → 5 → 7 → 8. With many
classes the in-between values are valid classes themselves, so no value is out
of range and no value looks like noise; the trace is geometric. A pixel is a
*band pixel* when, along one of the four axes through it, its value forms a run
of one or two pixels whose two outside neighbours lie one below and one above
it (``3 | 5 | 7`` or ``3 | 5 5 | 8``). A real thin object (a vessel 1 on
background 0, VOC's 255 void bands) is not between its neighbours' values, and a
real object of the in-between class is thicker than two pixels.

:func:`border_bands` summarises one mask (in the checker's worker processes);
:func:`flag_banded` weighs the summaries of a whole dataset: a class that is thin
*everywhere* (most of its pixels band pixels) is a real thin class, not a ramp,
and its bands do not count. Cheap for clean masks: two 3×3 morphology passes,
and the axis test only at the few pixels strictly between their neighbourhood's
minimum and maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .artefacts import Artefacts
from .jpeg_trace import jpeg_trace

K3 = np.ones((3, 3), np.uint8)
K5 = np.ones((5, 5), np.uint8)
#: A mask is reported when band pixels are at least this share of its border pixels ...
MIN_BORDER_SHARE = 0.08
#: ... and at least this many pixels, lying between at least this many different class pairs.
MIN_BAND_PIXELS = 48
MIN_PAIRS = 2
#: The first look (every other pixel) goes on only when in-between pixels make this share of its border.
PREFILTER_SHARE = 0.03
#: A class with at least this share of its pixels (over the dataset) in bands is a real thin class.
THIN_CLASS_SHARE = 0.5
_AXES = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True)
class BorderBands:
    """Band pixels of one mask (see :func:`border_bands`)."""

    band: int  # band pixels
    border: int  # pixels with a different value in their 3x3 neighbourhood
    by_value: tuple[tuple[int, int], ...]  # (value, band pixels), most first
    pairs: tuple[tuple[int, int], ...]  # (lower, upper) class values the bands lie between, most first
    location: tuple[int, int] | None  # (x, y) of one band pixel
    lossy: str = ""  # JPEG evidence (see jpeg_trace), "" when there is none


def band_map(a: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """Flat indices of the band pixels of a 2-D integer mask (see the module's docstring).

    ``lo``/``hi`` are the 3x3 minimum/maximum of ``a`` when the caller has them.
    Only pixels strictly between their neighbourhood's extremes are looked at.
    """
    if lo is None or hi is None:
        lo = cv2.erode(a, K3)
        hi = cv2.dilate(a, K3)
    h, w = a.shape
    cand = cv2.bitwise_and(cv2.compare(a, lo, cv2.CMP_GT), cv2.compare(a, hi, cv2.CMP_LT))
    if cv2.countNonZero(cand) < MIN_BAND_PIXELS:  # a clean mask stops here (cv2: ~10x numpy on a full mask)
        return np.zeros(0, np.int64)
    ys, xs = np.nonzero(cand)
    v = a[ys, xs].astype(np.int64)
    found = np.zeros(len(ys), bool)

    def at(k: int, dy: int, dx: int) -> np.ndarray:  # the value k steps along (dy, dx), clamped at the image edge
        return a[np.clip(ys + k * dy, 0, h - 1), np.clip(xs + k * dx, 0, w - 1)].astype(np.int64)

    for dy, dx in _AXES:
        m1, m2, n1, n2 = at(-1, dy, dx), at(-2, dy, dx), at(1, dy, dx), at(2, dy, dx)
        one = (m1 != v) & (n1 != v)
        left = np.where(one | (n1 == v), m1, m2)  # the run is [v] or [v v] to the right, else [v v] to the left
        right = np.where(one | (m1 == v), n1, n2)
        run_ok = one | ((m1 != v) & (n1 == v) & (n2 != v)) | ((m1 == v) & (m2 != v) & (n1 != v))
        found |= run_ok & (((left < v) & (v < right)) | ((left > v) & (v > right)))
    return ys[found] * w + xs[found]


def _worth_a_look(a: np.ndarray) -> bool:
    """A cheap first look at every other pixel: do in-between pixels make 3 % of the border pixels there?

    A quarter of the work of the full test, and a ramp of a resize survives the
    subsampling (clean masks, even real multi-class ones, stay under 2 %;
    resized ones are at 10 % and more).
    """
    if a.size < 4096:
        return True
    s = np.ascontiguousarray(a[::2, ::2])
    lo, hi = cv2.erode(s, K3), cv2.dilate(s, K3)
    between = cv2.countNonZero(cv2.bitwise_and(cv2.compare(s, lo, cv2.CMP_GT), cv2.compare(s, hi, cv2.CMP_LT)))
    return between >= PREFILTER_SHARE * cv2.countNonZero(cv2.compare(lo, hi, cv2.CMP_NE))


def border_bands(a: np.ndarray, vals: np.ndarray) -> BorderBands | None:
    """The band pixels of a mask with three values or more; None when there are none."""
    if len(vals) < 3 or a.ndim != 2 or not _worth_a_look(a):
        return None
    lo = cv2.erode(a, K3)
    hi = cv2.dilate(a, K3)
    idx = band_map(a, lo, hi)
    if len(idx) < MIN_BAND_PIXELS:
        return None
    border = cv2.countNonZero(cv2.compare(lo, hi, cv2.CMP_NE))
    v = a.ravel()[idx]
    # The classes a band lies between: the extremes of its 5x5 window (the ends of the ramp).
    lower = cv2.erode(a, K5, borderType=cv2.BORDER_REPLICATE).ravel()[idx].astype(np.int64)
    upper = cv2.dilate(a, K5, borderType=cv2.BORDER_REPLICATE).ravel()[idx].astype(np.int64)
    bv, bc = np.unique(v, return_counts=True)
    key = lower * 65536 + upper
    pk, pc = np.unique(key, return_counts=True)
    order = np.argsort(-pc)
    lossy = jpeg_trace(a, vals)
    return BorderBands(
        band=len(idx),
        border=border,
        by_value=tuple((int(x), int(c)) for x, c in sorted(zip(bv, bc), key=lambda t: -t[1])),
        pairs=tuple((int(k // 65536), int(k % 65536)) for k in pk[order][:64]),
        location=(int(idx[0] % a.shape[1]), int(idx[0] // a.shape[1])),
        lossy=lossy,
    )


def without_bands(a: np.ndarray, classes) -> np.ndarray:
    """``a`` with its band pixels set to a value outside ``classes`` (for the fill of the fix)."""
    idx = band_map(a)
    out = a.astype(np.uint16 if a.dtype.itemsize <= 2 else a.dtype)
    free = next(v for v in range(65535, -1, -1) if v not in set(int(c) for c in classes))
    out.ravel()[idx] = free
    return out


def thin_classes(masks) -> set[int]:
    """Values most of whose pixels, over every mask, are band pixels: real thin classes."""
    band: dict[int, int] = {}
    total: dict[int, int] = {}
    for m in masks:
        for v, c in m.s.histogram().items():
            total[v] = total.get(v, 0) + c
        if m.s.bands is not None:
            for v, c in m.s.bands.by_value:
                band[v] = band.get(v, 0) + c
    return {v for v, c in band.items() if c >= THIN_CLASS_SHARE * total.get(v, c)}


def flag_banded(masks) -> None:
    """Give a mask without other damage whose borders carry many bands its :class:`Artefacts`.

    ``masks`` are the checker's mask views (``.s`` a mask summary with
    ``.bands``, ``.art`` the damage found so far). The verdict is "lossy" when the
    mask also carries the traces of a JPEG save (then the bands are JPEG noise).
    """
    thin = thin_classes(masks)
    for m in masks:
        b = m.s.bands
        if b is None or m.art is not None:
            continue
        counted = [(v, c) for v, c in b.by_value if v not in thin]
        pixels = sum(c for _, c in counted)
        pairs = b.pairs
        share = pixels / max(1, b.border)
        if pixels < MIN_BAND_PIXELS or share < MIN_BORDER_SHARE or len(pairs) < MIN_PAIRS:
            continue
        shown = ", ".join(f"{lo}|{hi}" for lo, hi in pairs[:4])
        evidence = b.lossy or (f"monotone in-between values only on borders: thin 1-2 px bands of in-between classes "
                               f"on {share * 100:.0f} % of the border pixels (between {shown})")
        m.art = Artefacts(
            verdict="lossy" if b.lossy else "interpolation",
            values=tuple(v for v, _ in counted[:24]),
            n_values=len(counted),
            pixels=pixels,
            dominant=tuple(sorted(m.s.histogram())),
            location=b.location,
            boundary_share=1.0,
            near_share=0.0,
            extremum_share=0.0,
            evidence=evidence,
        )
