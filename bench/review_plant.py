"""Plant label errors into real masks, the way annotators make them, and remember where.

    planted = plant(masks, rng, share=0.18, binary=False)   # {stem: Planted}; masks are changed in place

Four kinds, one per planted mask (kinds in turn, so each is planted about equally often):

- ``erased``: an object nobody labelled: one connected component of a
  foreground class set to background (binary masks: the vessel pixels of a
  40-px window);
- ``wrong-class``: one component given another foreground class (multi-class
  masks only; binary masks get ``erased`` instead);
- ``dilated``: one component's border drawn 6-10 px too wide, into the
  background (binary: 2-3 px over a 80-px window of vessels);
- ``pasted``: a blob painted where nothing is: a component of another mask
  copied, with its class, onto background of this one (binary: a 40-px
  window of another image's vessels).

Objects are chosen at sizes an annotator can get wrong and a reviewer can see
(:data:`MIN_AREA` to :data:`MAX_AREA` pixels). The record of each keeps the
changed pixels, their box and the label before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["KINDS", "Planted", "plant"]

KINDS = ("erased", "wrong-class", "dilated", "pasted")
MIN_AREA, MAX_AREA = 300, 20000
WINDOW = 40
#: a planting that changes fewer pixels is drawn again (a border that touches no background, say)
MIN_CHANGED = 100


@dataclass
class Planted:
    stem: str
    kind: str
    changed: np.ndarray          # bool H x W: the pixels whose label the planting changed
    before: int                  # the class those pixels had (the main one)
    after: int                   # the class they have now

    @property
    def box(self) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero(self.changed)
        return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)

    @property
    def area(self) -> int:
        return int(self.changed.sum())


def _components(mask: np.ndarray, classes) -> list[tuple[int, np.ndarray]]:
    """(class, bool region) of every connected component of ``classes`` with an area in range."""
    out = []
    for k in classes:
        n, lab, stats, _ = cv2.connectedComponentsWithStats((mask == k).astype(np.uint8), connectivity=8)
        for i in range(1, n):
            if MIN_AREA <= stats[i, cv2.CC_STAT_AREA] <= MAX_AREA:
                out.append((int(k), lab == i))
    return out


def _window_of(mask: np.ndarray, k: int, rng, size: int, min_pixels: int) -> tuple[int, int] | None:
    ys, xs = np.nonzero(mask == k)
    h, w = mask.shape
    for _ in range(50):
        if not len(ys):
            return None
        j = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[j] - size // 2, 0, h - size))
        x0 = int(np.clip(xs[j] - size // 2, 0, w - size))
        if (mask[y0:y0 + size, x0:x0 + size] == k).sum() >= min_pixels:
            return y0, x0
    return None


def _erase(mask, rng, fg, binary):
    if binary:
        at = _window_of(mask, 1, rng, WINDOW, 150)
        if at is None:
            return None
        changed = np.zeros(mask.shape, bool)
        y0, x0 = at
        changed[y0:y0 + WINDOW, x0:x0 + WINDOW] = mask[y0:y0 + WINDOW, x0:x0 + WINDOW] == 1
        return changed, 1, 0
    comps = _components(mask, fg)
    if not comps:
        return None
    k, region = comps[int(rng.integers(len(comps)))]
    return region, k, 0


def _swap(mask, rng, fg, binary):
    if binary or len(fg) < 2:
        return _erase(mask, rng, fg, binary)
    comps = _components(mask, fg)
    if not comps:
        return None
    k, region = comps[int(rng.integers(len(comps)))]
    others = [c for c in fg if c != k]
    return region, k, int(others[int(rng.integers(len(others)))])


def _dilate(mask, rng, fg, binary):
    if binary:
        at = _window_of(mask, 1, rng, 2 * WINDOW, 300)
        if at is None:
            return None
        y0, x0 = at
        r = int(rng.integers(2, 4))
        inside = np.zeros(mask.shape, bool)
        inside[y0:y0 + 2 * WINDOW, x0:x0 + 2 * WINDOW] = True
        grown = cv2.dilate((mask == 1).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        return grown & inside & (mask == 0), 0, 1
    comps = _components(mask, fg)
    if not comps:
        return None
    k, region = comps[int(rng.integers(len(comps)))]
    r = int(rng.integers(6, 11))
    grown = cv2.dilate(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    return grown & (mask == 0), 0, k


def _paste(mask, rng, fg, binary, donor: np.ndarray):
    h, w = mask.shape
    if binary:
        at = _window_of(donor, 1, rng, WINDOW, 150)
        if at is None:
            return None
        y0, x0 = at
        patch = donor[y0:y0 + WINDOW, x0:x0 + WINDOW] == 1
        k = 1
    else:
        comps = _components(donor, fg)
        if not comps:
            return None
        k, region = comps[int(rng.integers(len(comps)))]
        ys, xs = np.nonzero(region)
        patch = region[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    ph, pw = patch.shape
    if ph >= h or pw >= w:
        return None
    for _ in range(100):
        y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
        if (mask[y:y + ph, x:x + pw][patch] == 0).all():
            changed = np.zeros(mask.shape, bool)
            changed[y:y + ph, x:x + pw] = patch
            return changed, 0, k
    return None


def plant(masks: dict[str, np.ndarray], rng: np.random.Generator, share: float, num_classes: int,
          binary: bool) -> dict[str, Planted]:
    """Plant one error in ``round(share * len(masks))`` masks (chosen with ``rng``), changing them in place."""
    stems = sorted(masks)
    chosen = sorted(rng.choice(len(stems), size=max(1, round(share * len(stems))), replace=False).tolist())
    fg = list(range(1, num_classes))
    out: dict[str, Planted] = {}
    for n, i in enumerate(chosen):
        stem, mask = stems[i], masks[stems[i]]
        kind = KINDS[n % len(KINDS)]
        donor = masks[stems[(i + len(stems) // 2) % len(stems)]]
        make = {"erased": lambda: _erase(mask, rng, fg, binary), "wrong-class": lambda: _swap(mask, rng, fg, binary),
                "dilated": lambda: _dilate(mask, rng, fg, binary),
                "pasted": lambda: _paste(mask, rng, fg, binary, donor)}[kind]
        for _ in range(20):
            made = make()
            if made is not None and made[0].sum() >= MIN_CHANGED:
                break
        else:
            continue
        changed, before, after = made
        if binary and kind == "wrong-class":
            kind = "erased"
        mask[changed] = after
        out[stem] = Planted(stem, kind, changed, before, after)
    return out
