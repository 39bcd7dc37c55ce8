"""Regions the user dismissed ("the label is right"), remembered so that no later review brings them back.

Stored in ``<dataset>/.fcnstudio/reviews/dismissed.json`` — beside the review
folders, not inside one, because the point is that the *next* review of the
dataset hides them too::

    {"version": 1, "dismissed": [{"mask": "masks/NAME.png", "box": [x, y, w, h], "kind": "missed",
                                  "label": 0, "predicted": 3, "review": "20250101-120000", "when": "…"}, …]}

A region matches a dismissal when the mask, kind, label and predicted class are
the same and the boxes overlap by at least :data:`MATCH_IOU` (intersection over
union): a retrained fold model draws the same disagreement a few pixels off.
:func:`filter_review` drops matching regions and rescores their images.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from ..io import atomic_write_text
from .folder import reviews_dir
from .regions import Region
from .report import ImageReview, Review
from .scores import image_score

__all__ = ["DISMISSED_FILE", "MATCH_IOU", "Dismissal", "add_dismissal", "box_iou", "dismissal_for",
           "filter_review", "is_dismissed", "read_dismissals"]

DISMISSED_FILE = "dismissed.json"
#: Boxes overlapping at least this much (IoU) are the same region (provisional).
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Dismissal:
    mask: str
    box: tuple
    kind: str
    label: int
    predicted: int
    review: str = ""
    when: str = ""

    @property
    def key(self) -> tuple:
        """What identifies the region: mask, box, kind, label, predicted (not when or in which review)."""
        return (self.mask, tuple(self.box), self.kind, int(self.label), int(self.predicted))

    def to_json(self) -> dict:
        return {"mask": self.mask, "box": [int(v) for v in self.box], "kind": self.kind, "label": int(self.label),
                "predicted": int(self.predicted), "review": self.review, "when": self.when}

    @classmethod
    def from_json(cls, d: dict) -> "Dismissal":
        return cls(mask=str(d["mask"]), box=tuple(int(v) for v in d["box"]), kind=str(d["kind"]),
                   label=int(d["label"]), predicted=int(d["predicted"]), review=str(d.get("review") or ""),
                   when=str(d.get("when") or ""))


def dismissal_for(image: ImageReview, region: Region, review: str = "") -> Dismissal:
    """The dismissal of ``region`` of ``image`` (``review``: the review folder's name, for the record)."""
    return Dismissal(mask=image.mask, box=tuple(region.box), kind=region.kind, label=region.label,
                     predicted=region.predicted, review=review, when=datetime.now().isoformat(timespec="seconds"))


def box_iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def is_dismissed(mask: str, region: Region, dismissals: Iterable[Dismissal]) -> bool:
    return any(d.mask == mask and d.kind == region.kind and d.label == region.label
               and d.predicted == region.predicted and box_iou(d.box, region.box) >= MATCH_IOU for d in dismissals)


def _path(dataset_root: str | os.PathLike):
    return reviews_dir(dataset_root) / DISMISSED_FILE


def read_dismissals(dataset_root: str | os.PathLike) -> tuple:
    """The dataset's dismissals (none when the file is missing); ValueError when it is not readable JSON."""
    path = _path(dataset_root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the dismissed regions ({exc})") from None
    try:
        return tuple(Dismissal.from_json(d) for d in data["dismissed"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a list of dismissed regions ({type(exc).__name__}: {exc})") from None


def add_dismissal(dataset_root: str | os.PathLike, dismissal: Dismissal) -> tuple:
    """Remember ``dismissal`` (written atomically); returns all dismissals. One already there is not repeated."""
    current = read_dismissals(dataset_root)
    if any(d.key == dismissal.key for d in current):
        return current
    updated = current + (dismissal,)
    path = _path(dataset_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"version": 1, "dismissed": [d.to_json() for d in updated]}, indent=1) + "\n")
    return updated


def filter_review(review: Review, dismissals: Iterable[Dismissal]) -> Review:
    """``review`` without the dismissed regions; images losing a region are rescored and the order redone."""
    dismissals = tuple(dismissals)
    if not dismissals:
        return review
    images = []
    for im in review.images:
        kept = tuple(r for r in im.regions if not is_dismissed(im.mask, r, dismissals))
        if len(kept) != len(im.regions):
            im = replace(im, regions=kept, score=image_score(im.softmin, [r.score for r in kept]))
        images.append(im)
    return replace(review, images=tuple(images)).sorted()
