"""Training crops: padded crops of cached pairs, foreground-aware sampling, batches.

Foreground-aware sampling (nnU-Net's 0.33 oversampling): a share
``fg_fraction`` of each batch is centred on a foreground pixel. The sampler
picks a foreground class uniformly among those present in the training images,
then an image holding it, then one of that image's stored coordinates of the
class (up to :data:`~.data.COORDS_PER_CLASS` per class and image, drawn once
when the masks are scanned). Picking the class first gives a class found in few
images as many centred crops as a common one. The other crops are uniform.

One crop: crop (padded: image with its mean, mask with ignore) ─► augment_pair
(one geometry for both; nearest for the mask) ─► :func:`~.preprocess.unit_to_model_input`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .augment import AugmentConfig, augment_pair
from .data import PairStore
from .errors import DataError, UnreadableError
from .preprocess import unit_to_model_input

__all__ = ["CropSampler"]


def _crop(arr: np.ndarray, y0: int, x0: int, size: int, fill) -> np.ndarray:
    """``arr[y0:y0+size, x0:x0+size]`` where out-of-bounds parts hold ``fill``."""
    h, w = arr.shape[:2]
    out = np.empty((size, size) + arr.shape[2:], dtype=arr.dtype)
    out[...] = fill
    sy0, sx0 = max(0, y0), max(0, x0)
    sy1, sx1 = min(h, y0 + size), min(w, x0 + size)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = arr[sy0:sy1, sx0:sx1]
    return out


def _origin(center: int, size: int, extent: int) -> int:
    """Crop start so that ``center`` is in the middle, kept inside the image when it fits."""
    o = center - size // 2
    if extent >= size:
        o = min(max(o, 0), extent - size)
    return o


class CropSampler:
    """Draws training crops from ``indices`` of a :class:`PairStore`.

    ``sample(rng, fg)`` returns ``(image CxSxS float32 normalised, mask SxS,
    centre)``; ``batch(rng, n)`` stacks ``n`` of them with about ``fg_fraction``
    of them foreground-centred (the exact count per batch is
    ``floor(n * f)`` plus one with probability ``frac(n * f)``).
    """

    def __init__(self, store: PairStore, indices: Sequence[int], crop_size: int = 256,
                 fg_fraction: float = 1 / 3, augment: AugmentConfig | None = None) -> None:
        self.store = store
        self.indices = list(indices)
        if not self.indices:
            raise DataError("no training images")
        self.crop = int(crop_size)
        self.fg_fraction = float(fg_fraction)
        self.augment = augment
        #: messages for images left out because they became unreadable (the trainer drains it)
        self.skipped: list[str] = []
        self._by_class: dict[int, list[int]] = {}
        self._index_classes()

    def _index_classes(self) -> None:
        self._by_class = {}
        for i in self.indices:
            s = self.store.summaries[i]
            if s is None:
                continue
            for k in s.coords:
                self._by_class.setdefault(k, []).append(i)

    @property
    def foreground_classes(self) -> list[int]:
        return sorted(self._by_class)

    def _pick_fg(self, rng: np.random.Generator, k: int | None = None) -> tuple[int, int, int] | None:
        if not self._by_class or (k is not None and k not in self._by_class):
            return None
        if k is None:
            classes = self.foreground_classes
            k = classes[int(rng.integers(len(classes)))]
        images = self._by_class[k]
        i = images[int(rng.integers(len(images)))]
        coords = self.store.summaries[i].coords[k]
        y, x = coords[int(rng.integers(len(coords)))]
        return i, int(y), int(x)

    def sample(self, rng: np.random.Generator, fg: bool = False, fg_class: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
        """One crop. With ``fg``, centred on a foreground pixel (of ``fg_class`` when given, else of a
        random present class); the centre's crop coordinates are returned when no augmentation moved it."""
        size = self.crop
        while True:
            picked = self._pick_fg(rng, fg_class) if fg or fg_class is not None else None
            i = picked[0] if picked is not None else self.indices[int(rng.integers(len(self.indices)))]
            try:
                s = self.store.load(i)
                break
            except UnreadableError as exc:
                self._drop(i, str(exc))
        if picked is not None:
            _, cy, cx = picked
            h, w = s.mask.shape
            y0, x0 = _origin(cy, size, h), _origin(cx, size, w)
        else:
            h, w = s.mask.shape
            y0 = int(rng.integers(0, h - size + 1)) if h >= size else -int(rng.integers(0, size - h + 1))
            x0 = int(rng.integers(0, w - size + 1)) if w >= size else -int(rng.integers(0, size - w + 1))
        image = _crop(s.image, y0, x0, size, np.float32(s.mean))
        mask = _crop(s.mask, y0, x0, size, self.store.ignore_index)
        centre = (cy - y0, cx - x0) if picked is not None else None
        if self.augment is not None:
            image, mask = augment_pair(image, mask, rng, self.augment, self.store.ignore_index)
            centre = None  # the geometry moved it
        return unit_to_model_input(image, s.mean, s.std), mask, centre

    def _drop(self, i: int, reason: str) -> None:
        """Leave out a training image that became unreadable; the trainer reports :attr:`skipped`."""
        self.indices = [j for j in self.indices if j != i]
        self.skipped.append(reason)
        if not self.indices:
            raise DataError(f"every training image became unreadable; the last one: {reason}")
        self._index_classes()

    def fg_count(self, rng: np.random.Generator, n: int) -> int:
        x = n * self.fg_fraction
        base = int(math.floor(x))
        return base + int(rng.random() < x - base)

    def batch(self, rng: np.random.Generator, n: int, part: Sequence[int] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """``(images NxCxSxS float32, masks NxSxS int64)``; the first ``fg_count`` are fg-centred.

        Each crop draws from its own generator, seeded from ``rng`` (which advances by the same amount
        whatever the images are), so ``part`` — positions in the batch — makes just those crops of it:
        the processes of a distributed run each make their share of one batch, and together exactly the
        crops a single process draws from the same ``rng``.
        """
        k = self.fg_count(rng, n)
        seeds = rng.integers(0, 2 ** 63 - 1, size=n)
        imgs, masks = [], []
        for j in range(n) if part is None else part:
            img, m, _ = self.sample(np.random.default_rng(int(seeds[j])), fg=j < k)
            imgs.append(img)
            masks.append(m)
        return np.stack(imgs), np.stack(masks).astype(np.int64)

    def crops_per_epoch(self) -> int:
        """How many crops make one pass over the training pixels (at least one per image)."""
        total = 0
        for i in self.indices:
            s = self.store.summaries[i]
            h, w = s.shape if s is not None else (self.crop, self.crop)
            total += max(1, int(round(h * w / (self.crop * self.crop))))
        return total
