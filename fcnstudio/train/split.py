"""The train/validation split: by whole image, seeded, with every foreground class in validation when it can be."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DataError

__all__ = ["split_by_image"]


def split_by_image(n: int, val_fraction: float = 0.2, seed: int | None = 0,
                   classes: Sequence[set] | None = None) -> tuple[list[int], list[int]]:
    """(train, val) image indices, seeded.

    At least one validation image; with 1 or 2 images every image is used for
    both (val ⊂ all). When ``classes`` (the classes present in each image) is
    given, validation images are picked first to cover every foreground class
    that appears in two or more images, so the collapse monitor sees each class.
    """
    if n <= 0:
        raise DataError("the dataset has no complete image/mask pair to train on")
    if n <= 2:
        return list(range(n)), list(range(n))
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(n)]
    n_val = min(n - 1, max(1, int(round(val_fraction * n))))
    val: list[int] = []
    if classes is not None:
        seen_in = {}
        for i in order:
            for k in classes[i]:
                seen_in.setdefault(k, []).append(i)
        for k in sorted(seen_in):
            if k == 0 or len(seen_in[k]) < 2 or len(val) >= n_val:
                continue
            if not any(k in classes[v] for v in val):
                val.append(seen_in[k][0])
    for i in order:
        if len(val) >= n_val:
            break
        if i not in val:
            val.append(i)
    val_set = set(val)
    train = [i for i in range(n) if i not in val_set]
    return train, sorted(val)
