"""Damage in a mask's values: JPEG noise and the in-between values of a smooth resize.

Used by :mod:`fcnstudio.core.checker.pair_stats` in the checker's worker processes.
The idea, in one line: a class is made of regions, so its pixels have
same-valued neighbours; noise and interpolation ramps do not (see
:func:`artefacts`). Cheap for clean masks (values over 5 % of the mask are not
examined; the neighbourhood is looked at only where small values are).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .jpeg_trace import jpeg_trace

#: A value whose pixels mostly lack two same-valued 8-neighbours is "incoherent" (noise, ramps).
COHERENT_SHARE = 0.5
#: Artefacts are reported only with at least this many incoherent values ...
MIN_ARTEFACT_VALUES = 3
#: ... covering at least this share of the mask (and 16 pixels).
MIN_ARTEFACT_SHARE = 5e-4

K3 = np.ones((3, 3), np.uint8)
K5 = np.ones((5, 5), np.uint8)
MAX_LISTED = 1024


@dataclass(frozen=True)
class Artefacts:
    """Values that look like damage rather than classes (see :func:`artefacts`)."""

    verdict: str  # "lossy" or "interpolation"
    values: tuple[int, ...]  # the damaged values, most frequent first (at most 24 listed)
    n_values: int
    pixels: int
    dominant: tuple[int, ...]  # the coherent values: what the classes probably are
    location: tuple[int, int] | None  # (x, y) of one damaged pixel
    boundary_share: float  # share of damaged pixels next to two different classes
    near_share: float  # share within 15 % of the gap from a class value
    extremum_share: float  # share that are strict local extrema (noise, not ramps)
    #: Every damaged value (at most 1024), for the dataset-wide second look in rules.py.
    damage: tuple[int, ...] = ()
    #: What told JPEG damage from interpolation (see jpeg_trace / border_bands), for the message.
    evidence: str = ""


def bincount(a: np.ndarray, mask: np.ndarray | None = None, minlength: int = 256) -> np.ndarray:
    """Counts of each value of a uint8/uint16 array (where ``mask`` is true); cv2 is ~5x numpy for uint8."""
    if a.dtype == np.uint8:
        m = None if mask is None else mask.view(np.uint8)
        counts = cv2.calcHist([a], [0], m, [256], [0, 256]).ravel().astype(np.int64)
        return np.pad(counts, (0, max(0, minlength - 256)))
    return np.bincount((a if mask is None else a[mask]).ravel(), minlength=minlength)


def unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(a.ravel(), return_inverse=True, return_counts=True)``, ~10x faster.

    np.unique argsorts for the inverse; a plain sort and a binary search give the
    same answer (the colour keys of a 512x512 JPEG mask: 4 ms instead of 60).
    """
    flat = a.ravel()
    if flat.size == 0:
        return flat.copy(), np.zeros(0, np.intp), np.zeros(0, np.intp)
    s = np.sort(flat)
    first = np.empty(s.size, bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    vals = s[first]
    counts = np.diff(np.append(np.flatnonzero(first), s.size))
    return vals, np.searchsorted(vals, flat), counts


def lookup(lut: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``lut[a]`` for a boolean lut; cv2.LUT for uint8 (much faster than fancy indexing)."""
    if a.dtype == np.uint8:
        table = np.zeros(256, np.uint8)
        table[: min(256, len(lut))] = lut[:256]
        return cv2.LUT(a, table).view(bool)
    return lut[a]


def same_neighbours(a: np.ndarray) -> np.ndarray:
    """For each pixel, how many of its 8 neighbours hold the same value (0..8)."""
    h, w = a.shape
    s = np.zeros((h, w), np.uint8)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        if dx >= 0:
            eq = a[: h - dy, : w - dx] == a[dy:, dx:]
            s[: h - dy, : w - dx] += eq
            s[dy:, dx:] += eq
        else:
            eq = a[: h - dy, 1:] == a[dy:, : w - 1]
            s[: h - dy, 1:] += eq
            s[dy:, : w - 1] += eq
    return s


def _incoherent(a: np.ndarray, vals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Boolean per value: fewer than half its pixels have two same-valued neighbours.

    Values holding over 5 % of the mask are taken as coherent without looking
    (noise and ramps never do), so a clean mask with a few large classes costs
    one pass; the neighbourhood is examined only at the pixels of small values.
    """
    small = counts < 0.05 * a.size
    if small.sum() < MIN_ARTEFACT_VALUES:
        return np.zeros(len(vals), bool)
    lut = np.zeros(int(vals[-1]) + 1, bool)
    lut[vals[small]] = True
    n_sel = int(counts[small].sum())
    if n_sel > 0.25 * a.size:
        s = same_neighbours(a)
        coherent = bincount(a, s >= 2, minlength=len(lut))[vals]
    else:
        flat = a.ravel()
        idx = np.flatnonzero(lookup(lut, a).ravel())
        c = flat[idx]
        same = np.zeros(len(idx), np.uint8)
        w, last = a.shape[1], a.size - 1
        for off in (-w - 1, -w, -w + 1, -1, 1, w - 1, w, w + 1):
            # Clamped flat offsets: at the image border a neighbour may come from the other
            # side or repeat the pixel itself; good enough for a share over many pixels.
            same += flat[np.clip(idx + off, 0, last)] == c
        coherent = np.bincount(c[same >= 2], minlength=len(lut))[vals]
    return small & (coherent < COHERENT_SHARE * counts)


def artefacts(a: np.ndarray, vals: np.ndarray, counts: np.ndarray, force: bool = False) -> Artefacts | None:
    """Values that are damage (JPEG noise, interpolation ramps), not classes.

    A class is a set of regions, so most of its pixels have at least two
    same-valued 8-neighbours — even a 1-pixel line has two. JPEG noise and the
    in-between values of a smooth resize do not: their values change from pixel
    to pixel. So the *incoherent* values (under half their pixels with two
    same-valued neighbours) are the suspects; a tiny but compact class is not one.
    Reported only with at least three such values covering 0.05 % of the mask
    (``force``, used for JPEG files, reports whatever is found).

    The class values of a damaged mask (``dominant``) are then the coherent
    values holding 2 % of it, or 0.2 % when no value within ±2 holds more
    (JPEG noise next to a class is not a class); everything else is damage.

    The verdict tells the two causes apart: strict local extrema (noise, not a
    ramp) clustered within 15 % of the gap from a class value, or damaged pixels
    mostly away from any boundary between two classes, mean a lossy save;
    otherwise the values lie on class boundaries: interpolation.
    """
    bad = _incoherent(a, vals, counts)
    n_bad = int(bad.sum())
    if not force and (n_bad < MIN_ARTEFACT_VALUES or n_bad == len(vals)):
        return None
    if not force and int(counts[bad].sum()) < max(16, MIN_ARTEFACT_SHARE * a.size):
        return None
    damage = _damage(vals.astype(np.int64), counts, bad, a.size, force, radius=2)
    if not force:
        damage = _thin_ramps(a, vals, counts, damage)
    strict = ~_damage(vals.astype(np.int64), counts, bad, a.size, True, radius=2)  # JPEG noise makes patches of its own
    trace = "" if force else jpeg_trace(a, vals[strict])
    damage = ~strict if trace else damage  # JPEG traces: the classes are read as strictly as in a JPEG file
    dominant = vals[~damage]
    pixels = int(counts[damage].sum())
    if n_bad == 0 or pixels == 0:
        return Artefacts("lossy", (), 0, 0, tuple(int(v) for v in dominant), None, 0.0, 0.0, 0.0)
    lut = np.zeros(int(vals[-1]) + 1, bool)
    lut[vals[bad]] = True
    m = lookup(lut, a)
    classes = vals[~bad] if (~bad).any() else vals[[int(np.argmax(counts))]]  # all noise: the mode stands in
    boundary, near, extremum = _ramp_features(a, m, classes)
    verdict = "lossy" if force or (extremum >= 0.2 and near >= 0.85) or boundary < 0.5 else "interpolation"
    verdict = "lossy" if trace else verdict
    ys, xs = np.nonzero(m)
    order = np.argsort(counts[damage])[::-1]
    return Artefacts(
        verdict=verdict,
        evidence=trace,
        values=tuple(int(v) for v in vals[damage][order][:24]),
        n_values=int(damage.sum()),
        pixels=pixels,
        dominant=tuple(int(v) for v in dominant),
        damage=tuple(int(v) for v in vals[damage][:MAX_LISTED]),
        location=(int(xs[0]), int(ys[0])) if len(xs) else None,
        boundary_share=round(boundary, 3),
        near_share=round(near, 3),
        extremum_share=round(extremum, 3),
    )


def _damage(points: np.ndarray, counts: np.ndarray, incoherent: np.ndarray, n: int, lossy: bool, radius: int) -> np.ndarray:
    """Which values are damage in a damaged mask: the incoherent ones, and coherent ones under 0.05 %.

    For a lossy (JPEG) file, stricter: only coherent values holding 2 % of the
    mask, or 0.2 % with no value within ``radius`` holding more, are classes
    (JPEG noise next to a class forms small patches of its own).
    """
    share = counts / max(1, n)
    if not lossy:
        damage = incoherent | (share < MIN_ARTEFACT_SHARE)
    else:
        cand = ~incoherent & (share >= 0.002)
        keep = cand & (share >= 0.02)
        pts = points.reshape(len(points), -1)
        for i in np.flatnonzero(cand & ~keep):
            near = np.abs(pts - pts[i]).max(axis=1) <= radius
            keep[i] = not (counts[near] > counts[i]).any()
        damage = ~keep
    if damage.all():
        damage[np.argmax(counts)] = False
    return damage


def _thin_ramps(a: np.ndarray, vals: np.ndarray, counts: np.ndarray, damage: np.ndarray) -> np.ndarray:
    """Also count as damage the coherent in-between values of straight edges.

    Resizing a mask with a straight, axis-aligned edge gives a 1-2 pixel line of
    one in-between value along it: coherent, yet damage. In a mask already found
    damaged, a value under 2 % of the mask whose pixels nearly all lie between a
    lower and a higher class value (5×5 window) and which has almost no interior
    (pixels whose 8 neighbours all share its value) joins the damage.
    """
    cand = ~damage & (counts < 0.02 * a.size)
    if not cand.any():
        return damage
    cls = ~damage & ~cand
    lut = np.zeros(int(vals[-1]) + 1, bool)
    lut[vals[cls]] = True
    known = lookup(lut, a)
    top = np.iinfo(a.dtype).max
    lo = cv2.erode(np.where(known, a, top).astype(a.dtype), K5)
    hi = cv2.dilate(np.where(known, a, 0).astype(a.dtype), K5)
    out = damage.copy()
    for i in np.flatnonzero(cand):
        v = vals[i]
        pix = a == v
        between = float(np.mean((lo[pix] < v) & (v < hi[pix])))
        if between < 0.8:
            continue
        interior = np.count_nonzero(cv2.erode(pix.view(np.uint8), K3)) / max(1, int(counts[i]))
        if interior < 0.2:
            out[i] = True
    return out


def _ramp_features(a: np.ndarray, m: np.ndarray, dominant: np.ndarray, where=None) -> tuple[float, float, float]:
    """(boundary share, near share, extremum share) of the damaged pixels ``m`` (``where``: its ``np.nonzero``)."""
    top = np.iinfo(a.dtype).max
    only_lo = a.copy()
    only_lo[m] = top
    only_hi = a.copy()
    only_hi[m] = 0
    # Damaged pixels stand in as the dtype's max for the minimum and as 0 for the
    # maximum, so lo < hi only when two different class values are within reach.
    lo = cv2.erode(only_lo, K5)[m].astype(np.int64)
    hi = cv2.dilate(only_hi, K5)[m].astype(np.int64)
    boundary = float(np.mean(lo < hi))

    v = a[m].astype(np.int64)
    doms = np.sort(dominant.astype(np.int64))
    i = np.searchsorted(doms, v)
    below = doms[np.clip(i - 1, 0, len(doms) - 1)]
    above = doms[np.clip(i, 0, len(doms) - 1)]
    inside = (i > 0) & (i < len(doms))
    d = np.minimum(np.abs(v - below), np.abs(above - v))
    near = float(np.mean(np.where(inside, d <= 0.15 * (above - below), True)))

    p = np.pad(a, 1, mode="edge")
    ys, xs = np.nonzero(m) if where is None else where
    c = p[ys + 1, xs + 1]
    nb = np.stack([p[ys, xs + 1], p[ys + 2, xs + 1], p[ys + 1, xs], p[ys + 1, xs + 2]])
    extremum = float(np.mean((c > nb.max(0)) | (c < nb.min(0))))
    return boundary, near, extremum


def color_artefacts(rgb: np.ndarray, ranks: np.ndarray, keys: np.ndarray, counts: np.ndarray, force: bool = False) -> Artefacts | None:
    """:func:`artefacts` for colour masks: coherence on the colours, the verdict per channel."""
    if len(keys) > 65535:
        return None
    r = ranks.astype(np.uint16)
    idx = np.arange(len(keys))
    bad = _incoherent(r, idx, counts)
    n_bad = int(bad.sum())
    if not force and (n_bad < MIN_ARTEFACT_VALUES or n_bad == len(keys)):
        return None
    if not force and int(counts[bad].sum()) < max(16, MIN_ARTEFACT_SHARE * r.size):
        return None
    cols = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.int64)
    damage = _damage(cols, counts, bad, r.size, force, radius=8)
    pixels = int(counts[damage].sum())
    if n_bad == 0 or pixels == 0:
        return Artefacts("lossy", (), 0, 0, tuple(int(v) for v in keys[~damage]), None, 0.0, 0.0, 0.0)
    m = bad[r]
    ys, xs = np.nonzero(m)
    feats = []
    for ch in range(3):
        plane = np.ascontiguousarray(rgb[..., ch])
        ref = cols[~bad, ch] if (~bad).any() else cols[[int(np.argmax(counts))], ch]
        feats.append(_ramp_features(plane, m, np.unique(ref), (ys, xs)))
    boundary = float(np.mean([f[0] for f in feats]))
    near = float(np.mean([f[1] for f in feats]))
    extremum = float(max(f[2] for f in feats))
    verdict = "lossy" if force or (extremum >= 0.2 and near >= 0.85) or boundary < 0.5 else "interpolation"
    order = np.argsort(counts[damage])[::-1]
    return Artefacts(
        verdict=verdict,
        values=tuple(int(v) for v in keys[damage][order][:24]),
        n_values=int(damage.sum()),
        pixels=pixels,
        dominant=tuple(int(v) for v in keys[~damage]),
        damage=tuple(int(v) for v in keys[damage][:MAX_LISTED]),
        location=(int(xs[0]), int(ys[0])) if len(xs) else None,
        boundary_share=round(boundary, 3),
        near_share=round(near, 3),
        extremum_share=round(extremum, 3),
    )
