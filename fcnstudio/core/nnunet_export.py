"""A dataset written as an nnU-Net v2 raw dataset (``DatasetXXX_NAME/``): the handover to nnU-Net.

Layout written (nnU-Net's ``dataset_format.md``)::

    OUT_DIR/Dataset501_NAME/
      dataset.json          channel_names, labels (+ "ignore"), numTraining, file_ending ".png"
      imagesTr/CASE_0000.png   one PNG per case: grey, RGB or RGBA, as nnU-Net's
                               NaturalImage2DIO reads natural images (channel_names
                               {"0": "R", "1": "G", "2": "B"} for RGB); images of another
                               channel count become one grey PNG per channel (_0000, _0001, …)
      labelsTr/CASE.png        8-bit (16-bit past 255 classes) grey PNG of class indices

Masks are read through the one reading of classes: the project of
:func:`fcnstudio.core.labels.load_project` and :meth:`Project.encode` (what the
trainer does), so the label map applies; class ``i`` is written as ``i`` and
the ignore value as the ``ignore`` label, one past the last class (nnU-Net
requires it to be the highest value), declared only when some mask holds it
(an ignore label changes how nnU-Net trains). Masks are plain grey PNGs, not palette
PNGs: readers that convert palette images to RGB would see colours.

Nothing is half-written: every file goes into a temporary folder inside
OUT_DIR (each written atomically), which is renamed to ``DatasetXXX_NAME`` at
the end; a failure removes it. This module does not run the checker: the
command refuses to export while it reports errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .checker.nnunet_json import DATASET_JSON, IGNORE_LABEL
from .dataset import Dataset, Pair
from .io import ImageReadError, atomic_write_bytes, atomic_write_text, read_image, read_mask_file
from .project import LabelError, Project

#: nnU-Net's name for class 0 (its LabelManager requires it).
BACKGROUND_LABEL = "background"

__all__ = ["BACKGROUND_LABEL", "DEFAULT_ID", "ExportError", "ExportRefused", "ExportResult", "dataset_folder_name", "export_nnunet"]

DEFAULT_ID = 501
FILE_ENDING = ".png"
#: A name nnU-Net and every file system accept: letters, digits, '-' and '_'.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CHANNEL_NAMES = {1: ("L",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}

Progress = Callable[[int, int], None]


class ExportError(ValueError):
    """What was asked cannot be done (bad id or name, target not empty, a write failed); nothing was left behind."""


class ExportRefused(ExportError):
    """The data cannot be handed over as it is (a mask that maps to no class, mixed channel counts)."""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    cases: int
    channel_names: dict
    labels: dict


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset501_NAME``; :class:`ExportError` for an id outside 1..999 or a name nnU-Net cannot take."""
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int) or not 1 <= dataset_id <= 999:
        raise ExportError(f"--id must be a whole number 1..999 (nnU-Net's dataset ids have 3 digits), got {dataset_id}")
    if not _NAME.match(name or "") or len(name) > 100:
        raise ExportError(
            f"--name {name!r}: use letters, digits, '-' and '_' only (at most 100, starting with a letter or digit)"
        )
    return f"Dataset{dataset_id:03d}_{name}"


def default_name(dataset: Dataset) -> str:
    """The dataset folder's name with every character nnU-Net cannot take replaced by '_'."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(dataset.root).name).strip("_-")[:100]
    return name or "dataset"


def nnunet_labels(project: Project, with_ignore: bool) -> dict:
    """``labels`` of dataset.json: class name → index, and (``with_ignore``) ``ignore`` → one past the last class.

    Class 0 is always ``background``: nnU-Net's label manager refuses a dataset.json without a
    ``"background": 0`` label, whatever the project calls its class 0."""
    names = [BACKGROUND_LABEL, *project.class_names[1:]]
    if BACKGROUND_LABEL in names[1:]:
        raise ExportRefused(f"class {names.index(BACKGROUND_LABEL, 1)} is named {BACKGROUND_LABEL!r}, which nnU-Net "
                            "reserves for class 0: rename it")
    if IGNORE_LABEL in names:
        raise ExportRefused(f"a class is named {IGNORE_LABEL!r}, which nnU-Net reserves for ignored pixels: rename it")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportRefused(f"class names must differ for nnU-Net's labels; {dup[0]!r} is used twice: rename one")
    labels = {name: i for i, name in enumerate(names)}
    if with_ignore:
        labels[IGNORE_LABEL] = len(names)
    return labels


def class_indices(raw: np.ndarray, project: Project, name: str) -> np.ndarray:
    """Stored values → the values written: class indices, the ignore value → one past the last class."""
    try:
        mask = project.encode(raw, name=name)
    except LabelError as exc:
        raise ExportRefused(f"{exc} (run `fcnstudio check` to see every such file)") from exc
    n = project.num_classes
    out = mask.astype(np.uint8 if n <= 255 else np.uint16)
    ignore = project.ignore_index
    if ignore is not None:
        if ignore < n:
            raise ExportRefused(f"the ignore value {ignore} is also a class index: nnU-Net needs it past the classes")
        out[mask == ignore] = n
    return out


def _png(arr: np.ndarray, name: str) -> bytes:
    """Lossless PNG bytes of an image in RGB(A) order (8 or 16 bit) or a grey array."""
    if arr.dtype not in (np.uint8, np.uint16):
        raise ExportRefused(f"{name}: {arr.dtype} pixels cannot be stored as PNG, which nnU-Net reads for 2-D data; "
                            "convert the images to 8 or 16 bit")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(FILE_ENDING, np.ascontiguousarray(arr))
    if not ok:
        raise ExportError(f"{name}: could not be encoded as PNG")
    return buf.tobytes()


def case_channels(dataset: Dataset, pair: Pair) -> list[np.ndarray]:
    """The image files of a case as arrays: one file, or (nnU-Net sources) ``_0000``, ``_0001``, …"""
    files = [pair.image, *sorted(dataset.extra_channels.get(pair.stem, ()))]
    out = []
    for path in files:
        try:
            out.append(read_image(path))
        except ImageReadError as exc:
            raise ExportRefused(f"{dataset.relative(path)}: {exc}") from exc
    return out


def channel_files(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """What goes to ``_0000``, ``_0001``, …: one grey/RGB/RGBA file as it is, else one grey file per channel."""
    if len(arrays) == 1 and (arrays[0].ndim == 2 or arrays[0].shape[2] in _CHANNEL_NAMES):
        return arrays
    return [a if a.ndim == 2 else a[..., k] for a in arrays for k in range(1 if a.ndim == 2 else a.shape[2])]


def channel_names(files: list[np.ndarray]) -> dict:
    if len(files) == 1:
        ch = 1 if files[0].ndim == 2 else files[0].shape[2]
        return {str(k): v for k, v in enumerate(_CHANNEL_NAMES[ch])}
    return {str(k): f"channel{k}" for k in range(len(files))}


def _layout(files: list[np.ndarray]) -> tuple:
    return tuple(1 if f.ndim == 2 else f.shape[2] for f in files)


def _write_case(tmp: Path, dataset: Dataset, pair: Pair, project: Project, expected: tuple | None) -> tuple:
    files = channel_files(case_channels(dataset, pair))
    layout = _layout(files)
    if expected is not None and layout != expected:
        raise ExportRefused(
            f"{dataset.relative(pair.image)}: {sum(layout)} image channel(s), other cases have {sum(expected)}: "
            "nnU-Net needs the same channels in every case (see the image-channels-mixed finding)"
        )
    try:
        raw = read_mask_file(pair.mask).array
    except ImageReadError as exc:
        raise ExportRefused(f"{dataset.relative(pair.mask)}: {exc}") from exc
    mask = class_indices(raw, project, dataset.relative(pair.mask))
    for k, arr in enumerate(files):
        atomic_write_bytes(tmp / "imagesTr" / f"{pair.stem}_{k:04d}{FILE_ENDING}", _png(arr, dataset.relative(pair.image)))
    atomic_write_bytes(tmp / "labelsTr" / f"{pair.stem}{FILE_ENDING}", _png(mask, dataset.relative(pair.mask)))
    return layout, files, bool(project.ignore_index is not None and (mask == project.num_classes).any())


def check_target(out_dir: Path, folder: str, dataset_id: int) -> Path:
    """The target folder; :class:`ExportError` when it holds files or another dataset has the same id."""
    target = out_dir / folder
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target} already exists and is not empty: choose another --id, --name or OUT_DIR, "
                          "or remove it (nothing is overwritten)")
    if out_dir.is_dir():
        same = sorted(p.name for p in out_dir.glob(f"Dataset{dataset_id:03d}_*") if p.name != folder)
        if same:
            raise ExportError(f"{out_dir / same[0]} already has the id {dataset_id:03d}: nnU-Net finds datasets by id, "
                              "choose another --id")
    return target


def export_nnunet(dataset: Dataset, project: Project, out_dir: str | os.PathLike, dataset_id: int = DEFAULT_ID,
                  name: str | None = None, progress: Progress | None = None) -> ExportResult:
    """Write the complete pairs of ``dataset`` as ``OUT_DIR/DatasetXXX_NAME`` (see the module doc)."""
    folder = dataset_folder_name(dataset_id, name if name is not None else default_name(dataset))
    nnunet_labels(project, False)  # refuses class names nnU-Net cannot take before anything is written
    pairs = dataset.complete_pairs
    if not pairs:
        raise ExportRefused(f"{dataset.root}: no image/mask pairs to export")
    out_dir = Path(out_dir).expanduser().absolute()
    target = check_target(out_dir, folder, dataset_id)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.partial-", dir=out_dir))
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create the export folder ({exc.strerror or exc})") from None
    try:
        names, ignored = _write_all(tmp, dataset, project, pairs, progress)
        labels = nnunet_labels(project, ignored)
        data = {"channel_names": names, "labels": labels, "numTraining": len(pairs), "file_ending": FILE_ENDING}
        atomic_write_text(tmp / DATASET_JSON, json.dumps(data, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        if target.is_dir():
            target.rmdir()  # empty (checked above): the rename takes its place
        os.rename(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"{out_dir}: writing the export failed ({exc.strerror or exc}); nothing was left behind") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(folder=target, cases=len(pairs), channel_names=names, labels=labels)


def _write_all(tmp: Path, dataset: Dataset, project: Project, pairs, progress: Progress | None) -> dict:
    (tmp / "imagesTr").mkdir()
    (tmp / "labelsTr").mkdir()
    expected, names, ignored = None, {}, False
    for i, pair in enumerate(pairs):
        layout, files, has_ignore = _write_case(tmp, dataset, pair, project, expected)
        ignored |= has_ignore
        if expected is None:
            expected, names = layout, channel_names(files)
        if progress is not None:
            progress(i + 1, len(pairs))
    return names, ignored
