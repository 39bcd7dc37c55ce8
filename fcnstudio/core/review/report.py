"""A review as data: :class:`Review`, :class:`FoldQuality`, :class:`ImageReview`, and their JSON.

``review.json`` (``Review.to_json()``; floats that are NaN become ``null``)::

    {"version": 1, "created": "2025-…", "dataset": "/abs/path", "classes": ["background", …],
     "folds": K, "trusted": true, "reason": "",            # reason: why not trusted ("" when trusted)
     "settings": {"minutes_per_fold": M, "steps_per_fold": N|null, "train_config": {…}},
     "fold_quality": [{"fold": 1, "images": n, "mean_iou": …, "mean_fg_iou": …, "pixel_accuracy": …,
                       "iou": [per class], "thresholds": [per class], "steps": s, "run": "fold1",
                       "collapsed": false, "collapse": [codes], "error": ""}, …],
     "collapsed_folds": [i, …],                           # folds whose images are not ranked
     "images": [{"mask": "masks/NAME.png", "image": "images/NAME.png", "stem": "NAME", "fold": i,
                 "score": s, "softmin": q, "probs": "probs/NAME.npz", "features": {…},
                 "regions": [{"box": [x, y, w, h], "area": a, "score": r, "kind": "missed",
                              "label": i, "predicted": j, "features": {…}}, …]}, …],
     "unranked": [{"mask": …, "image": …, "stem": …, "fold": i, "reason": "…"}, …]}

``images`` and each image's ``regions`` are sorted by score, most suspicious
first. ``trusted: false`` means the fold models are too weak for the order to
mean anything: show the reason, not the ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .regions import Region

__all__ = ["BLOCKING_COLLAPSE", "REVIEW_VERSION", "FoldQuality", "ImageReview", "Review", "UnrankedImage"]

REVIEW_VERSION = 1


def _num(x) -> float | None:
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _flt(x) -> float:
    return math.nan if x is None else float(x)


#: Collapse warnings that keep a fold's images out of the ranking: the model answers one thing everywhere.
#: (A standing class-never-predicted does not: the fold is ranked and the class is named in never_predicted.)
BLOCKING_COLLAPSE = ("collapse-background", "collapse-single-class")


@dataclass(frozen=True)
class FoldQuality:
    """How one fold's model did on its held-out images (``iou`` per class, NaN for a class absent from both)."""

    fold: int
    images: int
    mean_iou: float = math.nan
    mean_fg_iou: float = math.nan   # over the foreground classes labelled in the held-out images (trust.py)
    pixel_accuracy: float = math.nan
    iou: tuple = ()
    thresholds: tuple = ()
    steps: int = 0
    run: str = ""
    collapse: tuple = ()   # codes of the whole-model collapse warnings standing at the end (not ranked)
    error: str = ""        # the run failed (its images are not ranked)
    never_predicted: tuple = ()  # classes the model still never predicted at the end (errors of those: unseen)

    @property
    def collapsed(self) -> bool:
        return bool(self.collapse)

    @property
    def ranked(self) -> bool:
        return not self.collapse and not self.error

    def to_json(self) -> dict:
        return {"fold": self.fold, "images": self.images, "mean_iou": _num(self.mean_iou),
                "mean_fg_iou": _num(self.mean_fg_iou), "pixel_accuracy": _num(self.pixel_accuracy),
                "iou": [_num(v) for v in self.iou], "thresholds": [_num(v) for v in self.thresholds],
                "steps": self.steps, "run": self.run, "collapsed": self.collapsed, "collapse": list(self.collapse),
                "never_predicted": list(self.never_predicted), "error": self.error}

    @classmethod
    def from_json(cls, d: dict) -> "FoldQuality":
        return cls(fold=int(d["fold"]), images=int(d.get("images", 0)), mean_iou=_flt(d.get("mean_iou")),
                   mean_fg_iou=_flt(d.get("mean_fg_iou")), pixel_accuracy=_flt(d.get("pixel_accuracy")),
                   iou=tuple(_flt(v) for v in d.get("iou") or ()),
                   thresholds=tuple(_flt(v) for v in d.get("thresholds") or ()), steps=int(d.get("steps") or 0),
                   run=str(d.get("run") or ""), collapse=tuple(str(c) for c in d.get("collapse") or ()),
                   error=str(d.get("error") or ""),
                   never_predicted=tuple(int(c) for c in d.get("never_predicted") or ()))


@dataclass(frozen=True)
class ImageReview:
    """One ranked image: paths relative to the dataset root (forward slashes), its score and regions."""

    mask: str
    image: str
    stem: str
    fold: int
    score: float
    softmin: float
    regions: tuple = ()
    features: dict = field(default_factory=dict, hash=False)
    probs: str = ""

    def to_json(self) -> dict:
        return {"mask": self.mask, "image": self.image, "stem": self.stem, "fold": self.fold,
                "score": _num(self.score), "softmin": _num(self.softmin), "probs": self.probs,
                "features": {k: _num(v) for k, v in self.features.items()},
                "regions": [r.to_json() for r in self.regions]}

    @classmethod
    def from_json(cls, d: dict) -> "ImageReview":
        return cls(mask=str(d["mask"]), image=str(d.get("image") or ""), stem=str(d.get("stem") or ""),
                   fold=int(d.get("fold") or 0), score=_flt(d.get("score")), softmin=_flt(d.get("softmin")),
                   regions=tuple(Region.from_json(r) for r in d.get("regions") or ()),
                   features={str(k): _flt(v) for k, v in (d.get("features") or {}).items()},
                   probs=str(d.get("probs") or ""))


@dataclass(frozen=True)
class UnrankedImage:
    """An image left out of the ranking, and why (its fold's model collapsed or failed)."""

    mask: str
    image: str
    stem: str
    fold: int
    reason: str

    def to_json(self) -> dict:
        return {"mask": self.mask, "image": self.image, "stem": self.stem, "fold": self.fold, "reason": self.reason}

    @classmethod
    def from_json(cls, d: dict) -> "UnrankedImage":
        return cls(mask=str(d["mask"]), image=str(d.get("image") or ""), stem=str(d.get("stem") or ""),
                   fold=int(d.get("fold") or 0), reason=str(d.get("reason") or ""))


@dataclass(frozen=True)
class Review:
    """A finished review; ``images`` sorted most suspicious first (see the module docstring for the JSON)."""

    folds: int
    trusted: bool
    reason: str
    fold_quality: tuple
    images: tuple
    unranked: tuple = ()
    classes: tuple = ()
    dataset: str = ""
    created: str = ""
    settings: dict = field(default_factory=dict, hash=False)
    version: int = REVIEW_VERSION

    @property
    def collapsed_folds(self) -> list[int]:
        return [q.fold for q in self.fold_quality if q.collapsed]

    def sorted(self) -> "Review":
        """The same review with images and their regions ordered most suspicious first (NaN last)."""
        def key(score: float) -> float:
            return -score if math.isfinite(score) else math.inf
        images = [replace(im, regions=tuple(sorted(im.regions, key=lambda r: key(r.score)))) for im in self.images]
        return replace(self, images=tuple(sorted(images, key=lambda im: key(im.score))))

    def to_json(self) -> dict:
        return {"version": self.version, "created": self.created, "dataset": self.dataset,
                "classes": list(self.classes), "folds": self.folds, "trusted": self.trusted, "reason": self.reason,
                "settings": dict(self.settings), "fold_quality": [q.to_json() for q in self.fold_quality],
                "collapsed_folds": self.collapsed_folds, "images": [im.to_json() for im in self.images],
                "unranked": [u.to_json() for u in self.unranked]}

    @classmethod
    def from_json(cls, d: dict) -> "Review":
        """A review from ``review.json``'s dict; ValueError when a required key is missing or malformed."""
        if not isinstance(d, dict):
            raise ValueError("a review must be a JSON object")
        try:
            return cls(folds=int(d["folds"]), trusted=bool(d["trusted"]), reason=str(d.get("reason") or ""),
                       fold_quality=tuple(FoldQuality.from_json(q) for q in d["fold_quality"]),
                       images=tuple(ImageReview.from_json(im) for im in d["images"]),
                       unranked=tuple(UnrankedImage.from_json(u) for u in d.get("unranked") or ()),
                       classes=tuple(str(c) for c in d.get("classes") or ()), dataset=str(d.get("dataset") or ""),
                       created=str(d.get("created") or ""), settings=dict(d.get("settings") or {}),
                       version=int(d.get("version") or REVIEW_VERSION))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a review: {type(exc).__name__}: {exc}") from None
