"""Decoded training pairs: the pair store with its bounded cache and the mask scan.

    read_image ─► :func:`~.preprocess.prepare_image` (channels, unit scale; mean/std kept)
    read_mask  ─► Project.encode (the label map of fcnstudio.json) ─► class indices
    ─► both resized by the run's input scale (area for the image, nearest for the mask)
    (both cached, bounded; see :class:`PairStore`)

Masks hold class indices; pixels to ignore hold :func:`train_ignore_index`
(the project's ignore index, else 255, else ``num_classes`` past 255 classes),
which the trainer passes to the loss and the metrics. :meth:`PairStore.scan`
reads every mask once for the class counts and the foreground coordinates the
crop sampler (:mod:`.crops`) centres crops on. Everything here is numpy.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..core.dataset import Dataset, Pair
from ..core.io import ImageReadError, read_image, read_mask_file
from ..core.project import LabelError, Project, index_dtype
from .errors import DataError, UnreadableError
from .preprocess import prepare_image

__all__ = ["COORDS_PER_CLASS", "MaskScan", "PairStore", "Sample", "train_ignore_index"]

#: Foreground coordinates kept per class and image (a bounded random sample).
COORDS_PER_CLASS = 256


def train_ignore_index(project: Project) -> int:
    """The value padded/ignored mask pixels hold during training.

    The project's ``ignore_index`` when it has one; else 255 (or ``num_classes``
    when 255 is a class).
    """
    if project.ignore_index is not None:
        return int(project.ignore_index)
    return 255 if project.num_classes <= 255 else project.num_classes


@dataclass(frozen=True)
class Sample:
    """One decoded pair, ready to crop: unit image HxWxC, class-index mask HxW."""

    stem: str
    image: np.ndarray
    mask: np.ndarray
    mean: float
    std: float

    @property
    def nbytes(self) -> int:
        return int(self.image.nbytes + self.mask.nbytes)


@dataclass(frozen=True)
class MaskScan:
    """What a scan of one mask found: class pixel counts and sampled coordinates per class."""

    counts: np.ndarray              # (C,) labelled pixels per class
    coords: dict                    # class -> (k, 2) int32 [y, x], foreground classes only
    shape: tuple


class PairStore:
    """Decoded pairs of a dataset with a bounded in-memory LRU cache.

    ``load(i)`` decodes pair ``i`` (image and mask), applies the label map and
    checks that the sizes agree, raising :class:`DataError` naming the file.
    ``scan()`` reads every mask once to record class counts and foreground
    coordinates for the sampler.
    """

    def __init__(self, dataset: Dataset, pairs: Sequence[Pair], project: Project, mode: str,
                 cache_mb: int = 1024, seed: int | None = 0) -> None:
        self.dataset = dataset
        self.pairs = list(pairs)
        for p in self.pairs:
            if p.image is None or p.mask is None:
                raise DataError(f"{p.stem}: the pair has no {'image' if p.image is None else 'mask'}; "
                                "only complete pairs can be trained on")
        self.project = project
        self.mode = mode
        self.in_channels = 1 if mode == "grey" else 3
        self.num_classes = project.num_classes
        self.ignore_index = train_ignore_index(project)
        # the training ignore value may be num_classes (256 classes, none ignored): it must fit too
        self.mask_dtype = index_dtype(max(self.num_classes - 1, self.ignore_index))
        self.cache_bytes = int(cache_mb) * 2**20
        self._cache: OrderedDict[int, Sample] = OrderedDict()
        self._cached = 0
        self._seed = seed
        self.summaries: list[MaskScan | None] = [None] * len(self.pairs)
        #: images and masks are resized by this factor when loaded (see :meth:`set_scale`)
        self.scale = 1.0

    def __len__(self) -> int:
        return len(self.pairs)

    def stem(self, i: int) -> str:
        return self.pairs[i].stem

    # -- decoding

    def read_mask(self, i: int) -> np.ndarray:
        pair = self.pairs[i]
        name = self.dataset.relative(pair.mask)
        try:
            raw = read_mask_file(pair.mask).array
        except ImageReadError as exc:
            raise UnreadableError(f"{exc} Fix or remove the pair before training.") from exc
        try:
            mask = self.project.encode(raw, name=name)
        except LabelError as exc:
            raise DataError(f"{exc} (run `fcnstudio check` to see every such file)") from exc
        return mask.astype(self.mask_dtype, copy=False)

    def read_image(self, i: int) -> tuple[np.ndarray, float, float]:
        pair = self.pairs[i]
        name = self.dataset.relative(pair.image)
        try:
            raw = read_image(pair.image)
        except ImageReadError as exc:
            raise UnreadableError(f"{exc} Fix or remove the pair before training.") from exc
        return prepare_image(raw, self.mode, name)

    def load(self, i: int) -> Sample:
        """Pair ``i`` decoded (from the cache when it is there)."""
        s = self._cache.get(i)
        if s is not None:
            self._cache.move_to_end(i)
            return s
        mask = self.read_mask(i)
        image, mean, std = self.read_image(i)
        if image.shape[:2] != mask.shape:
            pair = self.pairs[i]
            ih, iw = image.shape[:2]
            mh, mw = mask.shape
            rotated = " (rotated: height and width are swapped)" if (ih, iw) == (mw, mh) else ""
            raise DataError(f"{self.dataset.relative(pair.image)} is {iw}x{ih} but "
                            f"{self.dataset.relative(pair.mask)} is {mw}x{mh}{rotated}; "
                            "fix or remove the pair (the checker reports shape-mismatch)")
        if self.scale != 1.0:
            image, mask = self._resized(image, mask)
        s = Sample(self.pairs[i].stem, image, mask, mean, std)
        if self.summaries[i] is None:
            self.summaries[i] = self._summarise(i, mask)
        if s.nbytes <= self.cache_bytes:
            self._cache[i] = s
            self._cached += s.nbytes
            while self._cached > self.cache_bytes and self._cache:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.nbytes
        return s

    def _resized(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = mask.shape
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return (small[:, :, None] if small.ndim == 2 else small,
                cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST))

    def set_scale(self, scale: float) -> None:
        """Resize pairs by ``scale`` from now on; the scanned coordinates follow, the cache is emptied."""
        if scale == self.scale:
            return
        ratio = scale / self.scale
        self.scale = float(scale)
        self._cache.clear()
        self._cached = 0
        for i, s in enumerate(self.summaries):
            if s is None:
                continue
            h, w = (max(1, round(v * ratio)) for v in s.shape)
            coords = {k: np.minimum((c * ratio).astype(np.int32), [h - 1, w - 1]).astype(np.int32)
                      for k, c in s.coords.items()}
            self.summaries[i] = MaskScan(counts=s.counts, coords=coords, shape=(h, w))

    # -- scanning

    def _summarise(self, i: int, mask: np.ndarray) -> MaskScan:
        c = self.num_classes
        flat = mask.reshape(-1)
        counts_all = np.bincount(flat, minlength=max(c, int(self.ignore_index) + 1))
        counts = counts_all[:c].astype(np.int64)
        rng = np.random.default_rng(None if self._seed is None else (self._seed, i))
        coords: dict[int, np.ndarray] = {}
        w = mask.shape[1]
        present = [k for k in range(1, c) if counts[k] > 0]
        if present:
            if len(present) > 8:
                order = np.argsort(flat, kind="stable")
                starts = np.concatenate([[0], np.cumsum(counts_all)])
                groups = {k: order[starts[k]:starts[k + 1]] for k in present}
            else:
                groups = {k: np.flatnonzero(flat == k) for k in present}
            for k, idx in groups.items():
                if len(idx) > COORDS_PER_CLASS:
                    idx = rng.choice(idx, COORDS_PER_CLASS, replace=False)
                coords[k] = np.stack([idx // w, idx % w], axis=1).astype(np.int32)
        return MaskScan(counts=counts, coords=coords, shape=tuple(mask.shape))

    def scan(self, indices: Sequence[int] | None = None, stop: Callable[[], bool] | None = None,
             progress: Callable[[int, int], None] | None = None) -> bool:
        """Read the masks of ``indices`` (default all) once; False if ``stop()`` interrupted it."""
        indices = list(range(len(self))) if indices is None else list(indices)
        for n, i in enumerate(indices):
            if stop is not None and stop():
                return False
            if self.summaries[i] is None:
                if i in self._cache:
                    self.summaries[i] = self._summarise(i, self._cache[i].mask)
                else:
                    self.summaries[i] = self._summarise(i, self.read_mask(i))
            if progress is not None:
                progress(n + 1, len(indices))
        return True

    def class_pixels(self, indices: Sequence[int]) -> np.ndarray:
        """Labelled pixels per class over the scanned masks of ``indices``."""
        total = np.zeros(self.num_classes, np.int64)
        for i in indices:
            s = self.summaries[i]
            if s is not None:
                total += s.counts
        return total

    def classes_in(self, i: int) -> set[int]:
        s = self.summaries[i]
        return set() if s is None else {k for k in range(self.num_classes) if s.counts[k] > 0}
