"""A review as the window works through it: its regions in order, which are done, how many are left.

:class:`ReviewQueue` is plain data (no Qt): the Review dock shows it and
sends it intents, and it outlives the dock. Two orders:

- :data:`BY_IMAGE`: images most suspicious first, each with its regions;
- :data:`ALL_REGIONS`: every region of the dataset in one queue, most
  suspicious first (region scores are comparable across images).

Dismissed regions (:mod:`.dismissals`, remembered beside the review folders)
are hidden when the queue is read and as they are dismissed. Accepted
regions stay listed, marked, for this session; *left* counts the regions
neither accepted nor dismissed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .dismissals import Dismissal, add_dismissal, dismissal_for, filter_review, read_dismissals
from .folder import read_review
from .regions import Region
from .report import ImageReview, Review

__all__ = ["ALL_REGIONS", "BY_IMAGE", "ORDERS", "QueueItem", "ReviewQueue"]

BY_IMAGE, ALL_REGIONS = "images", "regions"
ORDERS = (BY_IMAGE, ALL_REGIONS)


@dataclass(frozen=True)
class QueueItem:
    """One region of one image."""

    image: ImageReview
    region: Region

    @property
    def key(self) -> tuple:
        """What identifies the region in this review: mask, box, kind, label, predicted."""
        r = self.region
        return (self.image.mask, tuple(r.box), r.kind, int(r.label), int(r.predicted))


def _order_key(score: float) -> float:
    return -score if math.isfinite(score) else math.inf


class ReviewQueue:
    """The regions of the review in ``folder`` (of the dataset at ``root``), without the dismissed ones."""

    def __init__(self, root: str | os.PathLike, folder: str | os.PathLike, review: Review,
                 dismissals=()) -> None:
        self.root, self.folder = Path(root), Path(folder)
        self.review = filter_review(review, dismissals)
        self.order = BY_IMAGE
        self.accepted: set = set()
        self._items: list | None = None  # items() in the current order, until the order or the regions change

    @classmethod
    def read(cls, root: str | os.PathLike, folder: str | os.PathLike) -> "ReviewQueue":
        """The queue of a review folder; ValueError (naming the file) when the review or the dismissals are unreadable."""
        return cls(root, folder, read_review(folder), read_dismissals(root))

    @property
    def name(self) -> str:
        return self.folder.name

    def set_order(self, order: str) -> None:
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.order, self._items = order, None

    def items(self) -> list[QueueItem]:
        """Every region still listed, in the queue's order."""
        if self._items is None:
            items = [QueueItem(im, r) for im in self.review.images for r in im.regions]
            if self.order == ALL_REGIONS:
                items.sort(key=lambda it: _order_key(it.region.score))
            self._items = items
        return list(self._items)

    @property
    def left(self) -> int:
        """Regions neither accepted nor dismissed."""
        return sum(1 for it in self.items() if it.key not in self.accepted)

    def is_accepted(self, item: QueueItem) -> bool:
        return item.key in self.accepted

    def accept(self, item: QueueItem) -> None:
        self.accepted.add(item.key)

    def dismiss(self, item: QueueItem) -> Dismissal:
        """Remember that ``item``'s label is right (written to ``dismissed.json`` at once) and hide it."""
        dismissal = dismissal_for(item.image, item.region, self.name)
        add_dismissal(self.root, dismissal)
        self.review = filter_review(self.review, (dismissal,))
        self.accepted.discard(item.key)
        self._items = None
        return dismissal

    def find(self, key: tuple) -> QueueItem | None:
        return next((it for it in self.items() if it.key == key), None)

    def step(self, key: tuple | None, delta: int) -> QueueItem | None:
        """The region ``delta`` places after (before, when negative) the one with ``key``; the first
        (last) when ``key`` is None or no longer listed; None past either end."""
        items = self.items()
        if not items:
            return None
        keys = [it.key for it in items]
        if key not in keys:
            return items[0] if delta > 0 else items[-1]
        i = keys.index(key) + delta
        return items[i] if 0 <= i < len(items) else None

    def thresholds(self, fold: int) -> tuple:
        """The per-class thresholds of fold ``fold``'s model (empty when the fold is unknown)."""
        return next((tuple(q.thresholds) for q in self.review.fold_quality if q.fold == fold), ())

    def class_name(self, index: int) -> str:
        names = self.review.classes
        return names[index] if 0 <= index < len(names) else f"class {index}"
