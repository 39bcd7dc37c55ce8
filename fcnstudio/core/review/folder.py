"""The review folder: ``<dataset>/.fcnstudio/reviews/<YYYYmmdd-HHMMSS>/``.

::

    review.json        the review (:mod:`.report`), written last and atomically: a folder without it is a
                       review that was cancelled or killed, and readers skip it
    probs/<stem>.npz   held-out class probabilities per image (:mod:`.probs`)
    fold1/, fold2/ …   each fold model's run folder (config.json, events.jsonl, last.pt, best.pt)

and, shared by all reviews of the dataset, ``reviews/dismissed.json`` (:mod:`.dismissals`).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from ..io import atomic_write_text
from ..state_dirs import reviews_dir
from .report import Review

__all__ = ["REVIEW_FILE", "list_reviews", "make_review_dir", "read_review", "reviews_dir", "write_review"]

REVIEW_FILE = "review.json"


def make_review_dir(dataset_root: str | os.PathLike, now: datetime | None = None) -> Path:
    """Create a new, empty review folder named by the time (``-2``, ``-3`` … when the name is taken)."""
    parent = reviews_dir(dataset_root)
    parent.mkdir(parents=True, exist_ok=True)
    base = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder, n = parent / base, 2
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            folder, n = parent / f"{base}-{n}", n + 1


def write_review(review_dir: str | os.PathLike, review: Review) -> Path:
    """Write ``review.json`` atomically (a temp file renamed over it: the old file or the new one, never a mix)."""
    path = Path(review_dir) / REVIEW_FILE
    atomic_write_text(path, json.dumps(review.to_json(), indent=1, allow_nan=False) + "\n")
    return path


def read_review(path: str | os.PathLike) -> Review:
    """The review in ``path`` (a review folder or its review.json); ValueError naming the file when unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / REVIEW_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the review ({exc})") from None
    try:
        return Review.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def list_reviews(dataset_root: str | os.PathLike) -> list[Path]:
    """The finished review folders of a dataset (those holding review.json), newest first."""
    try:
        folders = [p for p in reviews_dir(dataset_root).iterdir() if p.is_dir() and (p / REVIEW_FILE).is_file()]
    except OSError:
        return []
    return sorted(folders, key=lambda p: p.name, reverse=True)
