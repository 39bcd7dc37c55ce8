"""Regions where the model confidently disagrees with the label: connected components, a kind, a box, features.

A pixel is *flagged* when the model's most likely class ``j`` is not the label
``y``, the pixel is labelled (not the ignore value), and the model is
confident in ``j`` as confident learning reads confidence: ``p_j`` reaches the
class's threshold ``t_j`` — the mean probability of class ``j`` over the
pixels labelled ``j`` in the same fold, so a class the model is always unsure
of is not held to the standard of an easy one — and at least
:data:`FLAG_MIN_PROB`. Flagged pixels are grouped into 8-connected components
per (label, predicted) pair; components under :data:`MIN_REGION_PIXELS` or
:data:`MIN_REGION_FRACTION` of the labelled pixels are noise and dropped.

Kinds (class 0 is background):

- ``border``: a thin band (mean width ≤ :data:`BORDER_MAX_WIDTH` px, at least
  :data:`BORDER_MIN_ELONGATION` times longer than wide) lying along a labelled
  boundary (≥ :data:`BORDER_MIN_CONTACT` of its length touches pixels of
  another label): a mask drawn too large or too small around an object;
- ``missed``: labelled background, the model sees a class;
- ``extra``: labelled as a class, the model sees background;
- ``wrong-class``: labelled as one class, the model sees another.

Each region carries named features (see :func:`region_features`); the score
combining them is :mod:`.scores`' business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import cv2
import numpy as np

from .features import edge_support, neighbour_support

__all__ = ["BORDER", "EXTRA", "KINDS", "MISSED", "WRONG_CLASS", "Region", "confident_pixels", "extract_regions",
           "flagged_pixels", "predicted_classes"]

MISSED, EXTRA, WRONG_CLASS, BORDER = "missed", "extra", "wrong-class", "border"
KINDS = (MISSED, EXTRA, WRONG_CLASS, BORDER)

# Provisional thresholds: to be set from planted-error measurements (docs/adr, later).
#: A disagreement counts only where the model gives its class at least this probability.
FLAG_MIN_PROB = 0.5
#: Components smaller than this many pixels, or this share of the labelled pixels, are dropped.
MIN_REGION_PIXELS = 12
MIN_REGION_FRACTION = 2e-4
#: At most this many regions per image (the largest) get features and a score.
MAX_REGIONS = 50
#: A border band is at most this wide (pixels) ...
BORDER_MAX_WIDTH = 8.0
#: ... at least this many times longer than wide ...
BORDER_MIN_ELONGATION = 3.0
#: ... and touches another label along at least this share of its length.
BORDER_MIN_CONTACT = 0.5

#: The compactness (4πA/P²) of a w x Lw rectangle with L = BORDER_MIN_ELONGATION: πL/(1+L)².
_BAND_COMPACTNESS = math.pi * BORDER_MIN_ELONGATION / (1.0 + BORDER_MIN_ELONGATION) ** 2
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


@dataclass(frozen=True)
class Region:
    """One region: ``box`` = (x, y, w, h) in pixels, ``area`` in pixels, the classes, its score and features."""

    box: tuple
    area: int
    kind: str
    label: int
    predicted: int
    score: float = math.nan
    features: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"region kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "box", tuple(int(v) for v in self.box))

    def with_score(self, score: float) -> "Region":
        return replace(self, score=float(score))

    def to_json(self) -> dict:
        return {"box": list(self.box), "area": int(self.area), "score": _num(self.score), "kind": self.kind,
                "label": int(self.label), "predicted": int(self.predicted),
                "features": {k: _num(v) for k, v in self.features.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "Region":
        box = d["box"]
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise ValueError(f"a region box is [x, y, w, h], got {box!r}")
        feats = {str(k): (math.nan if v is None else float(v)) for k, v in (d.get("features") or {}).items()}
        score = d.get("score")
        return cls(box=tuple(int(v) for v in box), area=int(d.get("area", box[2] * box[3])), kind=str(d["kind"]),
                   label=int(d["label"]), predicted=int(d["predicted"]),
                   score=math.nan if score is None else float(score), features=feats)


def _num(x) -> float | None:
    f = float(x)
    return f if math.isfinite(f) else None


def predicted_classes(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, p_pred)``: the most likely class per pixel and its probability (float32)."""
    pred = probs.argmax(axis=2)
    p_pred = np.take_along_axis(probs, pred[..., None], axis=2)[..., 0].astype(np.float32)
    return pred, p_pred


def confident_pixels(probs: np.ndarray, thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pred, p_pred, confident)``: the prediction, its probability, and where it reaches its class's threshold.

    ``thresholds``: one per class (NaN: the class was never labelled in the fold; :data:`FLAG_MIN_PROB` is used).
    The label plays no part: a pixel is flagged where it is confident and its label differs (:func:`flagged_pixels`).
    """
    pred, p_pred = predicted_classes(probs)
    t = np.asarray([FLAG_MIN_PROB if not math.isfinite(v) else max(float(v), FLAG_MIN_PROB) for v in thresholds],
                   dtype=np.float32)
    return pred, p_pred, p_pred >= t[pred]


def flagged_pixels(probs: np.ndarray, label: np.ndarray, thresholds: Sequence[float],
                   ignore_index: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flagged, pred, p_pred)``: the confident disagreements (bool H x W), the prediction and its probability.

    ``thresholds``: one per class (see :func:`confident_pixels`).
    """
    _check_shapes(probs, label, len(thresholds), ignore_index)
    pred, p_pred, confident = confident_pixels(probs, thresholds)
    labelled = label != ignore_index if ignore_index is not None else np.ones(label.shape, bool)
    flagged = labelled & (pred != label) & confident
    return flagged, pred, p_pred


def _check_shapes(probs: np.ndarray, label: np.ndarray, n_thresholds: int, ignore_index: int | None) -> None:
    if probs.ndim != 3 or probs.shape[:2] != label.shape:
        raise ValueError(f"probs must be H x W x C over the label's {label.shape}, got {probs.shape}")
    c = probs.shape[2]
    if n_thresholds != c:
        raise ValueError(f"{n_thresholds} thresholds for {c} classes")
    valid = label[label != ignore_index] if ignore_index is not None else label
    if valid.size and (valid.min() < 0 or valid.max() >= c):
        raise ValueError(f"label values must be class indices below {c} (or the ignore value {ignore_index})")


def extract_regions(probs: np.ndarray, label: np.ndarray, thresholds: Sequence[float], *,
                    ignore_index: int | None = None, gradient: np.ndarray | None = None,
                    neighbour_labels: Sequence[np.ndarray] = ()) -> list[Region]:
    """The confident-disagreement regions of one image, unscored, largest first (at most :data:`MAX_REGIONS`).

    ``probs`` H x W x C, ``label`` H x W class indices (``ignore_index`` pixels
    left out), ``thresholds`` per class (see the module docstring). ``gradient``
    (:func:`~.features.gradient_map` of the image) adds ``edge_support``;
    ``neighbour_labels`` (labels of near-duplicate neighbouring frames, same
    size) add ``neighbour_support``.
    """
    flagged, pred, p_pred = flagged_pixels(probs, label, thresholds, ignore_index)
    if not flagged.any():
        return []
    labelled = int((label != ignore_index).sum()) if ignore_index is not None else label.size
    min_area = max(MIN_REGION_PIXELS, int(math.ceil(MIN_REGION_FRACTION * labelled)))
    c = probs.shape[2]
    code = label.astype(np.int64) * c + pred
    found = []
    for pair in np.unique(code[flagged]):
        y, j = divmod(int(pair), c)
        n, cc, stats, _ = cv2.connectedComponentsWithStats((flagged & (code == pair)).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] >= min_area:
                found.append((int(stats[k, cv2.CC_STAT_AREA]), y, j, tuple(int(v) for v in stats[k, :4]), cc, k))
    found.sort(key=lambda f: -f[0])
    ctx = _Context(probs, label, thresholds, ignore_index, gradient, tuple(neighbour_labels), labelled, pred)
    return [region_features(ctx, y, j, box, cc, k) for _, y, j, box, cc, k in found[:MAX_REGIONS]]


@dataclass(frozen=True, eq=False)
class _Context:
    probs: np.ndarray
    label: np.ndarray
    thresholds: Sequence[float]
    ignore_index: int | None
    gradient: np.ndarray | None
    neighbour_labels: tuple
    labelled: int
    pred: np.ndarray
    _components: dict = field(default_factory=dict)

    def component_of(self, which: str, k: int, ys: np.ndarray, xs: np.ndarray) -> float:
        """The area of the connected region of class ``k`` in the label (``which="label"``) or the prediction
        that holds most of the pixels ``ys, xs`` (NaN when none does)."""
        if (which, k) not in self._components:
            src = self.label if which == "label" else self.pred
            _, cc, stats, _ = cv2.connectedComponentsWithStats((src == k).astype(np.uint8), connectivity=8)
            self._components[(which, k)] = (cc, stats[:, cv2.CC_STAT_AREA])
        cc, areas = self._components[(which, k)]
        ids = cc[ys, xs]
        ids = ids[ids > 0]
        return float(areas[np.bincount(ids).argmax()]) if ids.size else math.nan


def region_features(ctx: _Context, y: int, j: int, box: tuple, cc: np.ndarray, k: int) -> Region:
    """One component (``cc == k``, labelled ``y``, predicted ``j``) as a :class:`Region` with its features:

    ``confidence`` mean p(predicted); ``calibrated`` the same above the class threshold, scaled to [0, 1];
    ``self_confidence`` mean p(label); ``area_fraction`` of the labelled pixels; ``compactness``
    4πA/P² (1 for a disc); ``width`` 2A/P px; ``contact`` share of its length on another label;
    ``edge_support`` and ``neighbour_support`` (:mod:`.features`; NaN without evidence); ``coverage`` the share
    of the whole object the region is: of the labelled component for a labelled class, of the predicted
    component where the label is background (a label error takes a whole object, a model's mistake mostly a
    part of one); ``fg_contact`` the share of its outline on a third, foreground class (an erased part of a
    labelled object touches the rest of it; a blob painted on background touches nothing).
    """
    x, y0, w, h = box
    pad = 2
    H, W = ctx.label.shape
    r0, r1, c0, c1 = max(0, y0 - pad), min(H, y0 + h + pad), max(0, x - pad), min(W, x + w + pad)
    comp = cc[r0:r1, c0:c1] == k
    lab = ctx.label[r0:r1, c0:c1]
    area = int(comp.sum())
    contours, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = max(1.0, sum(cv2.arcLength(cnt, True) for cnt in contours))
    other = (lab != y) if ctx.ignore_index is None else ((lab != y) & (lab != ctx.ignore_index))
    label_edge = comp & cv2.dilate(other.astype(np.uint8), _CROSS).astype(bool)
    model_edge = comp & cv2.dilate(((lab == y) & ~comp).astype(np.uint8), _CROSS).astype(bool)
    ys, xs = np.nonzero(comp)
    ys, xs = ys + r0, xs + c0
    p = ctx.probs[ys, xs].astype(np.float32)
    t = ctx.thresholds[j]
    t = max(float(t), FLAG_MIN_PROB) if math.isfinite(t) else FLAG_MIN_PROB
    width = 2.0 * area / perimeter
    grad = ctx.gradient[r0:r1, c0:c1] if ctx.gradient is not None else None
    whole = ctx.component_of("label", y, ys, xs) if y != 0 else ctx.component_of("pred", j, ys, xs)
    ring = cv2.dilate(comp.astype(np.uint8), _CROSS).astype(bool) & ~comp
    around = lab[ring]
    if ctx.ignore_index is not None:
        around = around[around != ctx.ignore_index]
    features = {
        "confidence": float(p[:, j].mean()),
        "calibrated": float(np.clip((p[:, j] - t) / max(1e-6, 1.0 - t), 0.0, 1.0).mean()),
        "self_confidence": float(p[:, y].mean()),
        "area_fraction": area / max(1, ctx.labelled),
        "compactness": min(1.0, 4.0 * math.pi * area / perimeter ** 2),
        "width": width,
        "contact": min(1.0, float(label_edge.sum()) / (perimeter / 2.0)),
        "edge_support": edge_support(grad, label_edge, model_edge),
        "neighbour_support": neighbour_support(ctx.neighbour_labels, ys, xs, j),
        "coverage": min(1.0, area / whole) if math.isfinite(whole) else math.nan,
        "fg_contact": float(((around != 0) & (around != y)).mean()) if around.size else math.nan,
    }
    return Region(box=box, area=area, kind=_kind(y, j, features), label=y, predicted=j, features=features)


def _kind(label: int, predicted: int, f: dict) -> str:
    if f["width"] <= BORDER_MAX_WIDTH and f["contact"] >= BORDER_MIN_CONTACT and \
            f["compactness"] <= _BAND_COMPACTNESS:
        return BORDER
    if label == 0:
        return MISSED
    if predicted == 0:
        return EXTRA
    return WRONG_CLASS
