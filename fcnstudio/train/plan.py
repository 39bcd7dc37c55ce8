"""The data plan of a run: the labels checked, then which pairs train, validate, are evaluated and previewed.

:func:`checked_project` runs the label pre-flight (or takes the caller's
result) and refuses a dataset with error findings or fewer than two classes.

:func:`plan_data` opens the :class:`~.data.PairStore` (grey/RGB as the
resumed checkpoint says, else as most images are), scans every mask once, and
splits by image (:func:`~.split.split_by_image`; a resumed run keeps its
checkpoint's validation images; a caller that needs its own split — the
review's folds — gives it as stems, and pairs in neither list are not used). It then sets the input scale
(:mod:`.input_scale`: the config's number, a resumed checkpoint's, or chosen
from a sample of the training masks). At most ``max_val_images`` validation
images are scored at each evaluation: the preview images, then a seeded
sample. Up to ``max_previews`` previews are chosen to show every class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..core.dataset import Dataset
from ..core.labels import load_project
from ..core.project import Project
from .augment import AugmentConfig
from .config import TrainConfig
from .crops import CropSampler
from .data import PairStore
from .errors import DataError, Stopped
from .input_scale import ScaleChoice, choose_input_scale
from .orientation import Orientation, find_orientation
from .preflight import PreflightError, PreflightResult, describe_errors, preflight
from .preprocess import channel_mode
from .split import split_by_image

__all__ = ["DataPlan", "checked_project", "plan_data", "preview_indices"]


@dataclass
class DataPlan:
    """Indices into :attr:`store` (pairs in dataset order)."""

    store: PairStore
    sampler: CropSampler
    train_idx: list[int]
    val_idx: list[int]
    val_eval: list[int]      # the validation images scored at each evaluation
    preview_idx: list[int]   # ... of which these are shown
    steps_per_epoch: int
    notes: list[str] = field(default_factory=list)
    scale: ScaleChoice = ScaleChoice(1.0, "full size")
    orientation: Orientation = Orientation(False, "not measured")


def checked_project(dataset: Dataset, project: Project | None, result: PreflightResult | None, cfg: TrainConfig,
                    stop: Callable[[], bool], progress: Callable[[int, int], None]
                    ) -> tuple[Project, PreflightResult | None]:
    """The project to train on (default: the dataset's fcnstudio.json) and the pre-flight result.

    Raises :class:`~.preflight.PreflightError` for error findings, :class:`~.errors.DataError` for fewer than two
    classes, :class:`~.errors.Stopped` when ``stop()`` interrupted the check."""
    project = project if project is not None else load_project(dataset)
    if result is None and cfg.preflight:
        from ..core.checker import run as checks
        try:
            result = preflight(dataset, None if project.inferred else project, cancel=stop, progress=progress)
        except checks.CheckCancelled:
            raise Stopped() from None
    if result is not None:
        if not result.ok:
            raise PreflightError(describe_errors(dataset, result.errors), result.errors, result)
        if project.inferred and result.project is not None:
            project = result.project  # inferred from every mask, not a sample
    if project.num_classes < 2:
        raise DataError("the project has fewer than two classes; nothing to segment")
    return project, result


def plan_data(dataset: Dataset, project: Project, cfg: TrainConfig, resume: dict | None,
              stop: Callable[[], bool], progress: Callable[[int, int], None],
              split: tuple[Sequence[str], Sequence[str]] | None = None) -> DataPlan:
    """Raises :class:`~.errors.DataError` for no usable pair or a bad ``split`` (``(train_stems, val_stems)``,
    which replaces the seeded split and a resumed one), :class:`~.errors.Stopped` when ``stop()`` interrupted."""
    pairs = list(dataset.complete_pairs)
    if not pairs:
        raise DataError(f"{dataset.root}: no image has a mask yet; annotate some images first")
    skipped = len(dataset.pairs) - len(pairs)
    mode = (resume or {}).get("channels") or channel_mode(dataset, pairs)
    store = PairStore(dataset, pairs, project, mode, cfg.cache_mb, cfg.seed)
    if not store.scan(stop=stop, progress=progress):
        raise Stopped()
    classes = [store.classes_in(i) for i in range(len(store))]
    val_stems = (resume or {}).get("val_stems")
    if split is not None:
        train, val = _given_split([p.stem for p in pairs], split)
    elif val_stems:
        train, val = _kept_split([p.stem for p in pairs], val_stems)
    else:
        train, val = split_by_image(len(pairs), cfg.val_fraction, cfg.seed, classes)
    sample = mask_sample(store, train)
    scale = input_scale(sample, store.num_classes, cfg, resume)
    store.set_scale(scale.scale)
    orientation = find_orientation(sample, store.num_classes, tuple(project.class_names))
    augment = None
    if cfg.augment:  # upright images: no vertical flips or quarter turns (see .orientation)
        upright = cfg.flips == "left-right" or (cfg.flips == "auto" and orientation.upright)
        augment = AugmentConfig(vflip=0.0, rot90=0.0) if upright else AugmentConfig()
    if len(val) > cfg.max_val_images:
        keep = preview_indices(store, val, cfg.max_previews)
        rest = [i for i in np.random.default_rng(cfg.seed).permutation(val).tolist() if i not in keep]
        val_eval = sorted(keep + rest[: cfg.max_val_images - len(keep)])
    else:
        val_eval = list(val)
    sampler = CropSampler(store, train, cfg.crop_size, cfg.fg_fraction, augment)
    notes = [f"{skipped} pair{'s' if skipped != 1 else ''} without image or mask left out"] if skipped else []
    return DataPlan(store=store, sampler=sampler, train_idx=train, val_idx=val, val_eval=val_eval,
                    preview_idx=preview_indices(store, val_eval, cfg.max_previews),
                    steps_per_epoch=max(1, math.ceil(sampler.crops_per_epoch() / cfg.batch_size)), notes=notes,
                    scale=scale, orientation=orientation)


#: Training masks read to choose the input scale and the flips (spread over the training images).
MASK_SAMPLE = 48


def mask_sample(store: PairStore, train: Sequence[int]) -> list[np.ndarray]:
    """Up to :data:`MASK_SAMPLE` training masks at full size, spread over the training images."""
    picks = np.linspace(0, len(train) - 1, min(MASK_SAMPLE, len(train))).round().astype(int)
    masks = []
    for j in sorted(set(picks.tolist())):
        try:
            masks.append(store.read_mask(train[j]))
        except DataError:
            continue  # an unreadable mask is reported when it is loaded
    return masks


def input_scale(sample: list[np.ndarray], num_classes: int, cfg: TrainConfig, resume: dict | None) -> ScaleChoice:
    """The config's scale, a resumed checkpoint's, else one chosen from the sample of training masks."""
    if resume is not None:
        s = float(resume.get("input_scale") or 1.0)  # checkpoints from before input scales trained at full size
        return ScaleChoice(s, f"{s:g}x, as the resumed checkpoint was trained")
    if cfg.input_scale != "auto":
        return ScaleChoice(float(cfg.input_scale), f"{float(cfg.input_scale):g}x, as set")
    return choose_input_scale(sample, num_classes)


def _kept_split(stems: Sequence[str], val_stems: Sequence[str]) -> tuple[list[int], list[int]]:
    """The split a resumed checkpoint recorded, for the pairs still there."""
    index = {s: i for i, s in enumerate(stems)}
    val = sorted(index[s] for s in val_stems if s in index)
    train = [i for i in range(len(stems)) if i not in set(val)] or list(range(len(stems)))
    return train, val or train[:1]


def _given_split(stems: Sequence[str], split: tuple[Sequence[str], Sequence[str]]) -> tuple[list[int], list[int]]:
    """The caller's ``(train_stems, val_stems)`` as indices; both non-empty, every stem a complete pair."""
    index = {s: i for i, s in enumerate(stems)}
    train_stems, val_stems = split
    unknown = [s for s in (*train_stems, *val_stems) if s not in index]
    if unknown:
        raise DataError(f"the split names {len(unknown)} pair(s) the dataset does not have complete "
                        f"(e.g. {unknown[0]!r})")
    train = sorted({index[s] for s in train_stems})
    val = sorted({index[s] for s in val_stems})
    if not train or not val:
        raise DataError("the split needs at least one training and one validation image")
    return train, val


def preview_indices(store: PairStore, val: Sequence[int], k: int) -> list[int]:
    """Up to ``k`` validation images that together show every class (greedy cover)."""
    if k == 0:
        return []
    chosen: list[int] = []
    covered: set[int] = set()
    pool = list(val)
    while pool and len(chosen) < k:
        best = max(pool, key=lambda i: (len(store.classes_in(i) - covered), -pool.index(i)))
        if not store.classes_in(best) - covered and chosen:
            break
        chosen.append(best)
        covered |= store.classes_in(best)
        pool.remove(best)
    for i in pool:
        if len(chosen) >= k:
            break
        chosen.append(i)
    return sorted(chosen)
