"""Training data: decoded pairs, crops, foreground-aware sampling, normalisation.

Pipeline for one training crop::

    read_image ─► channels (grey/RGB by the dataset's majority; RGBA → RGB)
               ─► unit scale to [0, 1] (8-bit: /255; 16-bit, int, float: 0.5–99.5 percentiles)
    read_mask  ─► Project.encode (the label map of fcnstudio.json) ─► class indices
    (both cached, bounded) ─► crop (padded: image with its mean, mask with ignore)
               ─► augment_pair (one geometry for both; nearest for the mask)
               ─► per-image z-score (the mean/std of the whole unit image)

Foreground-aware sampling (nnU-Net's 0.33 oversampling): a share
``fg_fraction`` of each batch is centred on a foreground pixel. The sampler
picks a foreground class uniformly among those present in the training images,
then an image holding it, then one of that image's stored coordinates of the
class (up to :data:`COORDS_PER_CLASS` per class and image, drawn once when the
masks are scanned). Picking the class first gives a class found in few images
as many centred crops as a common one. The other crops are uniform.

Masks hold class indices; pixels to ignore hold :func:`train_ignore_index`
(the project's ignore index, else 255, else ``num_classes`` past 255 classes),
which the trainer passes to the loss and the metrics.

Everything here is numpy; only :class:`CropDataset` (an optional
``torch.utils.data.Dataset`` view) touches torch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..core.dataset import Dataset, Pair
from ..core.io import ImageReadError, read_header, read_image, read_mask_file
from ..core.project import LabelError, Project
from .augment import AugmentConfig, augment_pair

__all__ = [
    "COORDS_PER_CLASS",
    "CropSampler",
    "DataError",
    "Sample",
    "PairStore",
    "channel_mode",
    "image_to_model_input",
    "prepare_image",
    "split_by_image",
    "train_ignore_index",
    "unit_scale",
    "zscore",
]

#: Foreground coordinates kept per class and image (a bounded random sample).
COORDS_PER_CLASS = 256

GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
#: How many image headers are read to decide grey vs RGB.
CHANNEL_SAMPLE = 256

#: What the checkpoint records about the input preprocessing (predict repeats it).
NORMALISATION = {
    "kind": "per-image-zscore",
    "unit_scale": "uint8/255; other types: 0.5-99.5 percentiles to [0, 1]",
    "pad_value": "image mean",
}


class DataError(ValueError):
    """A pair that cannot be used for training; the message names the file and the fix."""


# ---------------------------------------------------------------- images


class UnreadableError(DataError):
    """A file that could be read when training started can no longer be (deleted, damaged, permissions)."""


def channel_mode(dataset: Dataset, pairs: Sequence[Pair] | None = None) -> str:
    """``"grey"`` or ``"rgb"``: what most images of the dataset are (ties → rgb).

    Reads headers only (up to :data:`CHANNEL_SAMPLE`, spread over the dataset).
    """
    pairs = [p for p in (pairs if pairs is not None else dataset.pairs) if p.image is not None]
    if len(pairs) > CHANNEL_SAMPLE:
        step = len(pairs) / CHANNEL_SAMPLE
        pairs = [pairs[int(i * step)] for i in range(CHANNEL_SAMPLE)]
    grey = rgb = 0
    for p in pairs:
        try:
            mode = read_header(p.image).mode
        except ImageReadError:
            continue
        if mode in GREY_MODES:
            grey += 1
        else:
            rgb += 1
    return "grey" if grey > rgb else "rgb"


def _to_channels(image: np.ndarray, mode: str, name: str) -> np.ndarray:
    """HxWxC with C = 1 (grey) or 3 (rgb); RGBA drops alpha, grey→RGB repeats."""
    if image.ndim == 2:
        image = image[:, :, None]
    c = image.shape[2]
    if c == 4:
        image, c = image[:, :, :3], 3
    elif c == 2:  # grey + alpha
        image, c = image[:, :, :1], 1
    elif c not in (1, 3):
        raise DataError(f"{name}: images with {c} channels are not supported (use grey, RGB or RGBA)")
    if mode == "grey" and c == 3:
        if image.dtype in (np.uint8, np.uint16):  # keeps the type, so 8-bit stays on the /255 scale
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None]
        else:
            f = image.astype(np.float32)
            image = (0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2])[:, :, None]
    elif mode == "rgb" and c == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def unit_scale(image: np.ndarray) -> np.ndarray:
    """Float32 in [0, 1]: 8-bit ÷ 255; 16-bit, other ints and floats by their 0.5/99.5 percentiles."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1 / 255)
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    f = image.astype(np.float32)
    finite = np.isfinite(f)
    if not finite.all():
        f = np.where(finite, f, 0.0).astype(np.float32)
    sub = f.reshape(-1)
    if sub.size > 1_000_000:
        sub = sub[:: sub.size // 1_000_000 + 1]
    lo, hi = np.percentile(sub, [0.5, 99.5])
    if hi - lo < 1e-12:
        lo, hi = float(sub.min()), float(sub.max())
    if hi - lo < 1e-12:
        return np.zeros_like(f)
    out = (f - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def zscore(unit: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(unit - mean) / std`` as float32 (std floored so a flat image stays finite)."""
    return (unit - np.float32(mean)) / np.float32(max(std, 1e-3))


def prepare_image(raw: np.ndarray, mode: str, name: str = "image") -> tuple[np.ndarray, float, float]:
    """Raw decoded image → (unit float32 HxWxC, mean, std): what the cache holds."""
    unit = unit_scale(_to_channels(raw, mode, name))
    return np.ascontiguousarray(unit), float(unit.mean()), float(unit.std())


def image_to_model_input(raw: np.ndarray, mode: str, name: str = "image") -> np.ndarray:
    """Raw decoded image → normalised CxHxW float32, exactly as training sees it (for predict)."""
    unit, mean, std = prepare_image(raw, mode, name)
    return np.ascontiguousarray(zscore(unit, mean, std).transpose(2, 0, 1))


def display_image(unit: np.ndarray) -> np.ndarray:
    """Unit float HxWxC → uint8 HxW or HxWx3 for previews."""
    img = np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return img[:, :, 0] if img.shape[2] == 1 else img


# ---------------------------------------------------------------- masks


def train_ignore_index(project: Project) -> int:
    """The value padded/ignored mask pixels hold during training.

    The project's ``ignore_index`` when it has one; else 255 (or ``num_classes``
    when 255 is a class).
    """
    if project.ignore_index is not None:
        return int(project.ignore_index)
    return 255 if project.num_classes <= 255 else project.num_classes


def _mask_dtype(num_classes: int, ignore: int):
    return np.uint8 if max(num_classes - 1, ignore) <= 255 else np.uint16


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
class MaskSummary:
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
        self.mask_dtype = _mask_dtype(self.num_classes, self.ignore_index)
        self.cache_bytes = int(cache_mb) * 2**20
        self._cache: OrderedDict[int, Sample] = OrderedDict()
        self._cached = 0
        self._seed = seed
        self.summaries: list[MaskSummary | None] = [None] * len(self.pairs)

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

    # -- scanning

    def _summarise(self, i: int, mask: np.ndarray) -> MaskSummary:
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
        return MaskSummary(counts=counts, coords=coords, shape=tuple(mask.shape))

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


# ---------------------------------------------------------------- split


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


# ---------------------------------------------------------------- crops


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
        image = zscore(image, s.mean, s.std)
        return np.ascontiguousarray(image.transpose(2, 0, 1)), mask, centre

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

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(images NxCxSxS float32, masks NxSxS int64)``; the first ``fg_count`` are fg-centred."""
        k = self.fg_count(rng, n)
        imgs, masks = [], []
        for j in range(n):
            img, m, _ = self.sample(rng, fg=j < k)
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


def CropDataset(sampler: CropSampler, length: int, seed: int = 0):
    """A ``torch.utils.data.Dataset`` of ``length`` crops (item ``i`` is seeded by ``(seed, i)``).

    For users who want a DataLoader; the trainer draws whole batches from the
    sampler itself (one process, deterministic, stoppable between crops).
    """
    import torch
    from torch.utils.data import Dataset as TorchDataset

    class _Crops(TorchDataset):
        def __len__(self) -> int:
            return length

        def __getitem__(self, i: int):
            rng = np.random.default_rng((seed, int(i)))
            img, mask, _ = sampler.sample(rng, fg=rng.random() < sampler.fg_fraction)
            return torch.from_numpy(img), torch.from_numpy(mask.astype(np.int64))

    return _Crops()


def downscale_for_preview(unit: np.ndarray, truth: np.ndarray, pred: np.ndarray, prob: np.ndarray,
                          size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shrink preview arrays so the longer side is at most ``size`` (area / nearest / linear)."""
    h, w = truth.shape
    scale = min(1.0, size / max(h, w))
    if scale >= 1.0:
        return display_image(unit), truth, pred, prob
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    img = cv2.resize(unit, (nw, nh), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    t = cv2.resize(truth, (nw, nh), interpolation=cv2.INTER_NEAREST)
    p = cv2.resize(pred, (nw, nh), interpolation=cv2.INTER_NEAREST)
    pr = np.stack([cv2.resize(c.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) for c in prob])
    return display_image(img), t, p, pr
