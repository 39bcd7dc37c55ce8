"""How suspicious an image's label is: pixel self-confidence, the soft-min baseline, region and image scores.

Inputs are the held-out class probabilities of one image (H x W x C, from a
fold model that never trained on it) and its label (H x W class indices).

- *Self-confidence* of a labelled pixel: the probability the model gives the
  labelled class. Ignored pixels are left out.
- The baseline, :func:`softmin_quality`: the soft-minimum of an image's pixel
  self-confidences, ``Σ s·exp(-s/T) / Σ exp(-s/T)`` with ``T`` =
  :data:`SOFTMIN_TEMPERATURE` (0.1) — the label-quality score of the
  segmentation literature (confident learning's softmin pooling), written here
  from its definition. In [0, 1]; low = suspicious.
- Per-class thresholds (:class:`ClassThresholds`): the mean self-confidence of
  the pixels labelled with each class over one fold. They decide which
  disagreements are confident (:mod:`.regions`) and scale the ``calibrated``
  feature, so each fold's model is read against its own confidence.
- :func:`region_score`: a logistic combination of a region's terms
  (:func:`region_terms`, :data:`REGION_WEIGHTS`, :data:`REGION_BIAS`), among
  them ``pair_share``, which needs the other images of the fold
  (:func:`score_fold_images`). :func:`image_score`: the strongest region, with
  the soft-min as a small tie-breaker (:data:`IMAGE_WEIGHTS`). Scores are in
  [0, 1]; higher = more likely a label error.

The weights were fitted on planted errors in two shared datasets
(``bench/review_calibrate.py``, docs/adr/0008-review-scores.md). Every region
keeps its raw features in ``review.json`` so a calibration can rescore a
review without predicting again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .regions import BORDER, KINDS, Region, extract_regions

__all__ = ["IMAGE_WEIGHTS", "REGION_BIAS", "REGION_WEIGHTS", "SOFTMIN_TEMPERATURE", "ClassThresholds", "ImageScore",
           "image_score", "region_score", "region_terms", "score_fold_images", "score_image", "self_confidence",
           "softmin", "softmin_quality", "with_pair_share"]

#: The baseline's temperature (softmin pooling of pixel self-confidences).
SOFTMIN_TEMPERATURE = 0.1

#: Logistic weights of the region terms (see :func:`region_terms`), fitted on planted label errors
#: (``bench/review_calibrate.py``; figures in docs/adr/0008-review-scores.md). ``neighbour_support`` has no
#: evidence in the calibration sets (no near-duplicate frames) and keeps its hand-set weight.
REGION_WEIGHTS = {
    "calibrated": 2.71,           # how far above its class's usual confidence the model is
    "self_confidence": -4.46,     # how much probability the model still gives the label
    "size": -0.70,                # log-size: 0 at 0.1 % of the labelled pixels, +1 at 10 %, -1 at 0.001 %
    "shape": -0.96,               # compactness for blobs, boundary contact for border bands
    "edge_support": -2.48,        # labelled boundary on an image edge (centred on 0.5; NaN → 0)
    "neighbour_support": 2.0,     # near-duplicate neighbours label the region as the model does (centred; NaN → 0)
    "coverage": 0.91,             # the share of the labelled object (or predicted one) the region is
    "fg_contact_missed": 0.12,    # a missed region's outline on a third, foreground class (an erased part)
    "fg_contact_other": -3.42,    # the same for the other kinds (a model's confusion between neighbours)
    "log2_width_border": 0.05,    # a border band's width, log2 px
    "pair_share": 3.2,            # the share of its (label, predicted) confusion the region holds (see below)
    "kind_missed": 0.0, "kind_extra": -0.30, "kind_wrong-class": -0.49, "kind_border": 0.49,
}
REGION_BIAS = -2.06
#: The image score: weights of the strongest region's score and of (1 - soft-min quality). The soft-min
#: added nothing on planted errors; its small weight orders the images without a region.
IMAGE_WEIGHTS = {"region": 0.95, "softmin": 0.05}
#: ``pair_share`` below this counts as this (log scale: 0 here, 1 for all of it).
MIN_PAIR_SHARE = 1e-4


def self_confidence(probs: np.ndarray, label: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """The probability of the labelled class at every labelled pixel (1-D float32)."""
    keep = label != ignore_index if ignore_index is not None else np.ones(label.shape, bool)
    lab = label[keep].astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= probs.shape[2]):
        raise ValueError(f"label values must be class indices below {probs.shape[2]}")
    return probs[keep][np.arange(lab.size), lab].astype(np.float32)


def softmin(values: np.ndarray, temperature: float = SOFTMIN_TEMPERATURE) -> float:
    """``Σ v·w / Σ w`` with ``w = exp(-v / T)``: a mean that leans on the smallest values. NaN for no values."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return math.nan
    w = np.exp(-(v - v.min()) / temperature)  # shifted: the same weights, no overflow
    return float((v * w).sum() / w.sum())


def softmin_quality(probs: np.ndarray, label: np.ndarray, ignore_index: int | None = None,
                    temperature: float = SOFTMIN_TEMPERATURE) -> float:
    """The baseline label quality of one image: soft-min of its pixel self-confidences (low = suspicious)."""
    return softmin(self_confidence(probs, label, ignore_index), temperature)


class ClassThresholds:
    """Per-class mean self-confidence over the images :meth:`add` was given (one fold)."""

    def __init__(self, num_classes: int) -> None:
        self.sums = np.zeros(num_classes, np.float64)
        self.counts = np.zeros(num_classes, np.int64)

    def add(self, probs: np.ndarray, label: np.ndarray, ignore_index: int | None = None) -> None:
        keep = label != ignore_index if ignore_index is not None else np.ones(label.shape, bool)
        lab = label[keep].astype(np.int64)
        s = self_confidence(probs, label, ignore_index)
        self.sums += np.bincount(lab, weights=s, minlength=len(self.sums))[: len(self.sums)]
        self.counts += np.bincount(lab, minlength=len(self.counts))[: len(self.counts)]

    @property
    def thresholds(self) -> tuple:
        """One per class; NaN for a class no pixel was labelled with."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return tuple(float(x) for x in np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1),
                                                     np.nan))


def region_terms(region: Region) -> dict:
    """The terms :data:`REGION_WEIGHTS` multiply, from the region's raw features (each about -1..1, or 0/1)."""
    f = region.features

    def value(name: str, default: float) -> float:
        v = float(f.get(name, math.nan))
        return v if math.isfinite(v) else default

    area = max(value("area_fraction", 0.0), 1e-9)
    missed = float(region.kind == "missed")
    contact = value("fg_contact", 0.0)
    share = max(value("pair_share", 1.0), MIN_PAIR_SHARE)
    terms = {
        "calibrated": value("calibrated", 0.0),
        "self_confidence": value("self_confidence", 1.0),
        "size": float(np.clip((math.log10(area) + 3.0) / 2.0, -1.0, 1.0)),
        "shape": value("contact", 0.0) if region.kind == BORDER else value("compactness", 0.0),
        "edge_support": value("edge_support", 0.5) - 0.5,
        "neighbour_support": value("neighbour_support", 0.5) - 0.5,
        "coverage": value("coverage", 0.0),
        "fg_contact_missed": contact * missed,
        "fg_contact_other": contact * (1.0 - missed),
        "log2_width_border": math.log2(max(value("width", 1.0), 0.5)) * float(region.kind == BORDER),
        "pair_share": math.log10(share) / -math.log10(MIN_PAIR_SHARE) + 1.0,
    }
    terms.update({f"kind_{k}": float(region.kind == k) for k in KINDS})
    return terms


def with_pair_share(regions_per_image: Sequence[Sequence[Region]]) -> list[list[Region]]:
    """The regions with ``pair_share``: the share of all flagged pixels of the same (label, predicted) pair,
    over the images given together (a fold), that a region holds. A model's own confusion (dress read as
    top) spreads over many images; a label error sits in one place."""
    totals: dict = {}
    for regions in regions_per_image:
        for r in regions:
            totals[(r.label, r.predicted)] = totals.get((r.label, r.predicted), 0) + r.area
    return [[replace(r, features={**r.features, "pair_share": r.area / max(totals[(r.label, r.predicted)], 1)})
             for r in regions] for regions in regions_per_image]


def region_score(region: Region, weights: dict | None = None, bias: float | None = None) -> float:
    """``sigmoid(bias + Σ weight·term)`` over :func:`region_terms`; in (0, 1), higher = more suspicious."""
    weights = REGION_WEIGHTS if weights is None else weights
    bias = REGION_BIAS if bias is None else bias
    terms = region_terms(region)
    z = bias + sum(w * terms[name] for name, w in weights.items())
    return 1.0 / (1.0 + math.exp(-z))


def image_score(softmin_q: float, region_scores: Sequence[float], weights: dict | None = None) -> float:
    """The strongest region's score and the soft-min's shortfall, weighted; in [0, 1], higher = more suspicious."""
    weights = IMAGE_WEIGHTS if weights is None else weights
    strongest = max(region_scores, default=0.0)
    low_quality = 1.0 - softmin_q if math.isfinite(softmin_q) else 0.0
    return float(weights["region"] * strongest + weights["softmin"] * low_quality)


@dataclass(frozen=True)
class ImageScore:
    """One image: its score, the baseline, its scored regions (most suspicious first) and image features."""

    score: float
    softmin: float
    regions: tuple
    features: dict


def _scored(regions: Sequence[Region]) -> tuple:
    return tuple(sorted((r.with_score(region_score(r)) for r in regions), key=lambda r: -r.score))


def score_image(probs: np.ndarray, label: np.ndarray, thresholds: Sequence[float], *,
                ignore_index: int | None = None, gradient: np.ndarray | None = None,
                neighbour_labels: Sequence[np.ndarray] = ()) -> ImageScore:
    """Regions, their scores and the image score of one held-out image (see the module docstring).

    ``pair_share`` is taken over this image alone; :func:`score_fold_images` takes it over a fold."""
    s = self_confidence(probs, label, ignore_index)
    quality = softmin(s)
    regions = extract_regions(probs, label, thresholds, ignore_index=ignore_index, gradient=gradient,
                              neighbour_labels=neighbour_labels)
    scored = _scored(with_pair_share([regions])[0])
    flagged = sum(r.area for r in regions)
    features = {
        "mean_self_confidence": float(s.mean()) if s.size else math.nan,
        "region_fraction": flagged / s.size if s.size else math.nan,
        "labelled_pixels": float(s.size),
    }
    return ImageScore(score=image_score(quality, [r.score for r in scored]), softmin=quality,
                      regions=scored, features=features)


def score_fold_images(images: Sequence[ImageScore]) -> list[ImageScore]:
    """The images of one fold scored again with ``pair_share`` taken over all of them."""
    shared = with_pair_share([im.regions for im in images])
    out = []
    for im, regions in zip(images, shared):
        scored = _scored(regions)
        out.append(replace(im, regions=scored, score=image_score(im.softmin, [r.score for r in scored])))
    return out
