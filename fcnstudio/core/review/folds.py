"""The review's folds: contiguous blocks of the pairs in sorted order.

Neighbouring frames of a video or a scan are near-duplicates: a model that
trained on frame 11 "predicts" frame 12 from memory, agreeing with its label
whether or not the label is right. Blocks of consecutive stems (in the order
the dataset lists them, :func:`~fcnstudio.core.dataset.natural_key`) keep such
neighbours in the same fold, so every image is predicted by a model that saw
neither it nor its neighbours.
"""

from __future__ import annotations

from typing import Sequence

from ..dataset import natural_key

__all__ = ["contiguous_folds"]


def contiguous_folds(stems: Sequence[str], k: int) -> list[list[str]]:
    """``k`` contiguous blocks of the naturally sorted ``stems``, sizes differing by at most one.

    Raises ValueError when ``k < 2``, when there are fewer stems than folds, or when a stem repeats.
    """
    if k < 2:
        raise ValueError(f"a review needs at least 2 folds, got {k}")
    ordered = sorted(stems, key=natural_key)
    if len(set(ordered)) != len(ordered):
        raise ValueError("the stems repeat: each pair must appear once")
    n = len(ordered)
    if n < k:
        raise ValueError(f"{k} folds need at least {k} image/mask pairs; the dataset has {n}")
    base, extra = divmod(n, k)
    folds, start = [], 0
    for i in range(k):
        size = base + (1 if i < extra else 0)
        folds.append(ordered[start:start + size])
        start += size
    return folds
