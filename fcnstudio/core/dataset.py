"""Finding image/mask pairs in a dataset folder.

Three layouts are detected (the folder given is the dataset root):

- ``plain``: ``images/`` + ``masks/`` (also ``labels/``), paired by file stem;
  a mask stem may end in ``_mask``, ``_label`` or ``_seg``.
- ``nnunet``: ``imagesTr/NAME_0000.ext`` + ``labelsTr/NAME.ext``.
- ``voc``: ``JPEGImages/`` + ``SegmentationClass/``.

Opening a dataset only lists file names: nothing is decoded until asked for, so
a folder of 10,000 pairs opens in a blink.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .io import IMAGE_SUFFIXES, MASK_SUFFIXES

MASK_STEM_SUFFIXES = ("_mask", "_label", "_seg", "_labels", "_masks")
_NNUNET_CHANNEL = re.compile(r"^(?P<name>.+)_(?P<channel>\d{4})$")

#: (layout, image folder names, mask folder names), tried in this order.
_LAYOUTS = (
    ("nnunet", ("imagesTr",), ("labelsTr",)),
    ("voc", ("JPEGImages",), ("SegmentationClass",)),
    ("plain", ("images", "image", "imgs", "img"), ("masks", "mask", "labels", "label", "annotations", "gt")),
)


class DatasetError(ValueError):
    """The folder is not a dataset FCN Studio can open; the message says why and what to do."""


@dataclass(frozen=True)
class Pair:
    """One image and its mask. Either may be None (a missing mask, or a mask with no image)."""

    stem: str
    image: Path | None
    mask: Path | None

    @property
    def name(self) -> str:
        return self.stem


@dataclass(frozen=True)
class Dataset:
    root: Path
    layout: str
    image_dir: Path
    mask_dir: Path
    pairs: tuple[Pair, ...] = field(default_factory=tuple)
    #: Extra image files of one case in an nnU-Net layout (channels _0001, ...), by stem.
    extra_channels: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def complete_pairs(self) -> list[Pair]:
        return [p for p in self.pairs if p.image is not None and p.mask is not None]

    def relative(self, path: Path | None) -> str:
        """A path relative to the dataset root, with forward slashes (as in reports)."""
        if path is None:
            return ""
        path = Path(path)
        try:  # lexically first: a symlink inside the dataset keeps its own name
            return path.relative_to(self.root).as_posix()
        except ValueError:
            pass
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def mask_path_for(self, pair: Pair) -> Path:
        """Where this pair's mask is (or will be written when annotated from empty)."""
        if pair.mask is not None:
            return pair.mask
        return self.mask_dir / f"{pair.stem}.png"

    def index_of(self, stem: str) -> int:
        for i, p in enumerate(self.pairs):
            if p.stem == stem:
                return i
        raise KeyError(stem)


def _list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise DatasetError(f"cannot list {folder}: {exc.strerror or exc}") from exc
    files = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if not e.is_file():
                continue
        except OSError:
            continue
        if os.path.splitext(e.name)[1].lower() in suffixes:
            files.append(Path(e.path))
    files.sort(key=lambda p: natural_key(p.name))
    return files


def natural_key(name: str):
    """Sort key that puts ``img2`` before ``img10`` (the order pairs are listed in)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _mask_key(stem: str) -> str:
    low = stem.lower()
    for suf in MASK_STEM_SUFFIXES:
        if low.endswith(suf) and len(stem) > len(suf):
            return stem[: -len(suf)]
    return stem


def _find_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        d = root / n
        if d.is_dir():
            return d
    return None


def detect_layout(root: Path) -> tuple[str, Path, Path]:
    for layout, image_names, mask_names in _LAYOUTS:
        img = _find_dir(root, image_names)
        msk = _find_dir(root, mask_names)
        if img is not None and msk is not None:
            return layout, img, msk
        if layout == "plain" and img is not None:
            # Images with no masks yet: the user annotates from empty.
            return layout, img, root / mask_names[0]
    raise DatasetError(
        f"{root} does not look like a dataset: expected images/ + masks/, "
        "imagesTr/ + labelsTr/ (nnU-Net) or JPEGImages/ + SegmentationClass/ (Pascal VOC)."
    )


def _voc_segmentation_stems(root: Path) -> set[str]:
    stems: set[str] = set()
    sets = root / "ImageSets" / "Segmentation"
    if sets.is_dir():
        for f in sets.glob("*.txt"):
            try:
                stems.update(line.split()[0] for line in f.read_text(errors="replace").splitlines() if line.strip())
            except OSError:
                continue
    return stems


def open_dataset(root: str | os.PathLike) -> Dataset:
    """List the image/mask pairs of a dataset folder (no file is decoded)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (give the dataset's root folder)")
    root = root.resolve()
    layout, image_dir, mask_dir = detect_layout(root)
    images = _list_files(image_dir, IMAGE_SUFFIXES)
    masks = _list_files(mask_dir, MASK_SUFFIXES) if mask_dir.is_dir() else []

    extra: dict[str, list[Path]] = {}
    by_stem: dict[str, Path] = {}
    for p in images:
        stem = p.stem
        if layout == "nnunet":
            m = _NNUNET_CHANNEL.match(stem)
            if m:
                stem = m.group("name")
                if m.group("channel") != "0000":
                    extra.setdefault(stem, []).append(p)
                    continue
        # Two images with one stem (a.png + a.jpg): keep the first, the checker
        # sees the other as an image without a mask of its own.
        by_stem.setdefault(stem, p)

    mask_by_stem: dict[str, Path] = {}
    for p in masks:
        key = p.stem if p.stem in by_stem else _mask_key(p.stem)
        mask_by_stem.setdefault(key, p)

    stem_set = set(by_stem) | set(mask_by_stem)
    if layout == "voc":
        # VOC's JPEGImages/ holds every photo; only those listed for segmentation
        # (or, without the lists, those with a mask) belong to this dataset.
        listed = _voc_segmentation_stems(root)
        stem_set = (listed & stem_set) | set(mask_by_stem) if listed else set(mask_by_stem)
    stems = sorted(stem_set, key=natural_key)
    pairs = tuple(Pair(s, by_stem.get(s), mask_by_stem.get(s)) for s in stems)
    if not pairs:
        raise DatasetError(f"{root}: found no images in {image_dir.name}/ ({layout} layout)")
    return Dataset(root=root, layout=layout, image_dir=image_dir, mask_dir=mask_dir, pairs=pairs, extra_channels=extra)
