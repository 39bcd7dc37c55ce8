"""How a dataset's stored mask values become classes — the one place that decides it.

- :func:`load_project`: the project file's classes, label map and ignore value,
  or, without one, :func:`infer_project`.
- :func:`infer_project`: the checker's inference
  (:func:`fcnstudio.core.checker.classes.read_classes`: damaged values and
  outliers such as JPEG noise are not classes) run on a sample of the masks,
  so opening a dataset stays fast; ``fcnstudio check`` runs the same rules on
  every mask.
- :func:`classify_mask`: whether the editor may paint a mask as stored, and if
  not (:class:`ReadOnly`), the checker code whose fix converts it.
- Encoding stored values into class indices for training and prediction is
  :meth:`fcnstudio.core.project.Project.encode`, with the project this module gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checker import encodings as enc
from .checker.classes import read_classes
from .checker.nnunet_json import load_dataset_json
from .checker.pair_stats import analyse_mask
from .dataset import Dataset
from .io import MaskFile
from .pair_files import histogram
from .project import Project, project_path, read_project

__all__ = ["INFER_SAMPLE", "ReadOnly", "classify_mask", "infer_project", "load_project"]

#: How many masks (spread over the dataset) :func:`infer_project` reads.
INFER_SAMPLE = 48
#: The sample when the masks are JPEGs (at least the ten masks the outlier rule needs).
LOSSY_SAMPLE = 12


def load_project(dataset: Dataset) -> Project:
    """The dataset's fcnstudio.json, else an nnU-Net dataset's dataset.json, else settings inferred from its masks
    (:func:`infer_project`)."""
    if project_path(dataset.root).exists():
        return read_project(dataset.root)
    return load_dataset_json(dataset) or infer_project(dataset)


def _sample(pairs, k: int):
    if len(pairs) <= k:
        return list(pairs)
    step = len(pairs) / k
    return [pairs[int(i * step)] for i in range(k)]


def infer_project(dataset: Dataset, sample: int = INFER_SAMPLE) -> Project:
    """Classes and label map inferred by the checker's rules from up to ``sample`` masks spread over the dataset.

    JPEG masks cost ~4x more to read (the damage analysis runs on every one):
    when the first :data:`LOSSY_SAMPLE` masks read (themselves spread over the
    dataset) are all JPEGs, those are the sample, so the open stays fast.
    """
    masks = _sample([p.mask for p in dataset.pairs if p.mask is not None], sample)
    first = _sample(masks, LOSSY_SAMPLE)
    chosen = set(first)
    summaries = []
    for path in first + [m for m in masks if m not in chosen]:
        if len(summaries) == LOSSY_SAMPLE and all(s.format == "JPEG" for s in summaries):
            break
        summaries.append(analyse_mask(str(path), dataset.relative(path)))
    return read_classes(summaries, None).project


@dataclass(frozen=True)
class ReadOnly:
    """Why the current mask cannot be edited; ``code`` is the finding whose fix helps."""

    code: str
    message: str


def classify_mask(mf: MaskFile, project: Project, dtype: np.dtype, name: str = "mask",
                  hist: np.ndarray | None = None) -> tuple[np.ndarray, ReadOnly | None]:
    """A class-index mask for editing, or a display mask plus why it is read-only.

    Editable: a 2-D integer mask whose values are class indices (or the
    ignore value) as stored, in a lossless format. Everything else is shown
    read-only with the code of the checker finding whose fix converts it
    (``lossy-mask``, ``color-mask``, ``non-integer-mask``, ``binary-255``), or
    ``label-out-of-range`` when only the user can (values past the classes,
    or a label map that re-numbers them).
    """
    raw = mf.array
    n = project.num_classes
    if mf.format == "JPEG":  # first: the checker reports lossy-mask for it, and that fix also maps colours
        return _display_lossy(raw, project), ReadOnly(
            "lossy-mask", "This mask is a JPEG: compression changed its values. Convert it to PNG first."
        )
    if raw.ndim == 3:
        return _display_colors(raw, project), ReadOnly(
            "color-mask",
            "This is a colour (RGB) mask. FCN Studio paints class indices: convert it to an index mask first.",
        )
    if raw.dtype.kind == "f":
        disp = np.nan_to_num(raw, nan=0, posinf=0, neginf=0)
        return np.clip(np.round(disp), 0, 65535).astype(np.uint16), ReadOnly(
            "non-integer-mask", "This mask holds floating-point values, not class indices: convert it first."
        )
    if raw.dtype.kind not in "iub":
        return np.zeros(raw.shape[:2], dtype), ReadOnly("unreadable", f"mask of unsupported type {raw.dtype}")
    values = [int(v) for v in np.flatnonzero(hist)] if hist is not None else _present_values(raw)
    ignore = project.ignore_index
    vmap = project.value_map
    remapped = any(v in vmap and vmap[v] != v for v in values)
    valid = all(v < n or v == ignore for v in values)
    if values and set(values) <= {0, 255} and 255 in values and (remapped or not valid):
        return _display_values(raw, values, project, binary=True), ReadOnly(
            "binary-255", "This mask stores its classes as 0/255. Convert it to 0/1 class indices to edit it."
        )
    if remapped:  # no fix rewrites a label map into the masks: the user repaints or edits the map
        return _display_values(raw, values, project), ReadOnly(
            "label-out-of-range",
            "The project's label map re-numbers this mask's values: convert the masks to class indices first.",
        )
    if not valid:
        bad = [v for v in values if v >= n and v != ignore][:6]
        return _display_values(raw, values, project), ReadOnly(
            "label-out-of-range",
            f"This mask holds values ({', '.join(map(str, bad))}) past the {n} classes of the project.",
        )
    top = max(values) if values else 0
    out_dtype = dtype if top <= np.iinfo(dtype).max else np.dtype(np.uint16)
    mask = raw if raw.dtype == out_dtype else raw.astype(out_dtype)
    if not mask.flags.writeable or not mask.flags.c_contiguous:
        mask = np.ascontiguousarray(mask).copy()
    return mask, None


def _present_values(raw: np.ndarray) -> list[int]:
    if raw.dtype in (np.uint8, np.uint16):
        return [int(v) for v in np.flatnonzero(histogram(raw))]
    return [int(v) for v in np.unique(raw)]


def _display_values(raw, values, project, binary=False) -> np.ndarray:
    """Stored values as a uint16 display mask (255 → 1 for a 0/255 mask; negatives → 0)."""
    disp = np.clip(raw, 0, 65535).astype(np.uint16)
    if binary:
        disp[disp == 255] = 1
    return disp


def _display_lossy(raw: np.ndarray, project: Project) -> np.ndarray:
    """A JPEG mask shown as the classes it most likely holds (colours to the nearest class colour)."""
    if raw.ndim == 2:
        return _display_values(raw, (), project)
    cmap = {enc.pack(c): i for c, i in project.color_map.items()}
    for i, c in enumerate(project.colors):
        cmap.setdefault(enc.pack(c), i)
    return enc.nearest_color_index(raw, cmap)[0].astype(np.uint16)


def _display_colors(raw: np.ndarray, project: Project) -> np.ndarray:
    """A colour mask shown through the project's colours (exact matches), other colours as 'no class'."""
    rgb = raw[..., :3].astype(np.uint32)
    key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    disp = np.full(key.shape, 65535, np.uint16)
    table = dict(project.color_map)
    for i, c in enumerate(project.colors):
        table.setdefault(c, i)
    for (r, g, b), idx in table.items():
        disp[key == ((r << 16) | (g << 8) | b)] = idx
    return disp
