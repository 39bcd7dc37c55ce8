"""Fixes for the fixable checker findings: plan (dry run), then apply with a backup.

    plan = plan_fix("path/to/dataset", "binary-255")   # checks first; or pass a CheckResult
    for f in plan.files: print(f.path, f.changed, f.note)
    report = apply_fix(plan)                           # backup, then atomic writes
    print(report.backup_dir)

Each per-mask transform is a pure function of an array (and what the check
learnt about the dataset), in :mod:`fcnstudio.core.fix_transforms`, tested on its own:

=========================  ==================================================
code                       transform
=========================  ==================================================
binary-255                 :func:`binary_to_index`: 255 (65535) → 1; noisy
                           values go to the nearer of 0 and 255 first
color-mask                 :func:`colors_to_index` (RGB: exact colour, else the
                           nearest known one) or :func:`luminance_to_index`
                           (grey palette brightness → VOC class); the classes
                           and colour label map are saved in fcnstudio.json
lossy-mask                 :func:`snap_to_values`: every pixel to the nearest
                           class value of its mask (a heuristic; the number of
                           changed pixels is reported)
interpolation-artifacts    :func:`fill_from_neighbours`: in-between values take
                           the most common class among their neighbours
inconsistent-encoding      each odd mask through its own transform above, so
                           every mask holds class indices
non-integer-mask           :func:`round_float` when every value is within 1e-3
                           of a whole number; otherwise the file is refused
=========================  ==================================================

Writing (:func:`apply_fix`): every target path is resolved and must lie inside
the dataset root; the originals are copied to
``<root>/.fcnstudio/backup/<YYYYmmdd-HHMMSS>/<relative path>`` *before* any
mask is replaced (all copies first, then the writes); each mask is written
atomically as a palette PNG (:func:`fcnstudio.core.io.write_mask`) with the
project's class colours. A mask that was not a PNG (``.gif``, ``.jpg``,
``.tif``…) is written as ``<stem>.png`` next to it, and the original is removed
only once the backup and the new file exist, so the dataset still pairs.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checker import encodings as enc
from .checker import palettes
from .checker.result import CheckResult
from .checker.run import check_dataset
from .checker.findings import FIXABLE
from .checker.border_bands import without_bands
from .dataset import Dataset
from .fix_transforms import (
    FixRefused,
    binary_to_index,
    colors_to_index,
    fill_from_neighbours,
    luminance_to_index,
    round_float,
    snap_to_values,
)
from .io import MaskFile, read_mask_file, write_mask
from .pair_files import write_protected
from .project import PROJECT_FILE, Project, project_path, save_project

BACKUP_DIR = ".fcnstudio/backup"


class FixError(ValueError):
    """A fix that cannot be planned or applied; the message says why and what to do."""


@dataclass(frozen=True)
class FileFix:
    """What the fix does to one mask."""

    path: str  # the mask now, relative to the root
    target: str  # where the fixed mask goes (a .png; differs from path for .gif/.jpg/.tif)
    changed: int = 0  # pixels whose stored value changes
    pixels: int = 0
    note: str = ""
    refused: str | None = None  # why the file is left alone


@dataclass(frozen=True)
class FixPlan:
    result: CheckResult
    code: str
    files: tuple[FileFix, ...]
    #: The classes (names, colours) masks are written with; saved to fcnstudio.json when ``saves_project``.
    project: Project
    saves_project: bool = False
    heuristic: bool = False
    notes: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        return self.result.root

    @property
    def writes(self) -> list[FileFix]:
        return [f for f in self.files if f.refused is None]

    @property
    def refused(self) -> list[FileFix]:
        return [f for f in self.files if f.refused is not None]


@dataclass(frozen=True)
class FixReport:
    plan: FixPlan
    backup_dir: Path | None
    written: tuple[str, ...]
    removed: tuple[str, ...] = ()
    project_file: Path | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- planning


def plan_fix(source: CheckResult | Dataset | str | os.PathLike, code: str, *, workers: int | None = None) -> FixPlan:
    """What the fix for ``code`` would change, file by file (nothing is written).

    ``source`` is a :class:`CheckResult` or a dataset (checked first, with
    ``workers``). Raises :class:`FixError` for a code that has no fix.
    """
    if code not in FIXABLE:
        raise FixError(f"{code!r} has no automatic fix; fixable codes: {', '.join(FIXABLE)}")
    result = source if isinstance(source, CheckResult) else check_dataset(source, workers=workers)
    project, saves, notes = _target_project(result, code)
    files = [_plan_file(result, code, rel) for rel in result.files_with(code)]
    heuristic = code in ("lossy-mask", "interpolation-artifacts") or any("nearest" in f.note for f in files)
    if heuristic and files:
        notes = notes + ("Heuristic: damaged pixels get the most likely class; check the changed masks by eye.",)
    return FixPlan(result=result, code=code, files=tuple(files), project=project, saves_project=saves and bool(files),
                   heuristic=heuristic, notes=notes)


def _target_project(result: CheckResult, code: str) -> tuple[Project, bool, tuple[str, ...]]:
    """The project masks are written with, and whether fcnstudio.json is (re)written."""
    project = result.project
    info = result.encoding
    color_files = [f for f in result.by_code(code) if f.data.get("kind") in ("rgb", "luminance")] if code == "color-mask" else []
    if code in ("color-mask", "inconsistent-encoding", "lossy-mask", "interpolation-artifacts"):
        if any(_is_color(result, p) for p in result.files_with(code)) or color_files:
            declared = project_path(result.root).exists()
            cmap = {enc.unpack(k): v for k, v in info.color_map.items()}
            label_map = dict(project.label_map) if declared else {}
            for rgb, idx in cmap.items():
                if idx < project.num_classes or idx == project.ignore_index:
                    label_map.setdefault(rgb, idx)
            new = project.with_changes(label_map=label_map, inferred=False, notes=())
            return new, True, (f"The classes and the colour → class map go into {PROJECT_FILE}.",)
    return project, False, ()


def _is_color(result: CheckResult, rel: str) -> bool:
    return any(f.data.get("kind") in ("rgb", "luminance") for f in result.by_code("color-mask") if rel in f.files)


def _transform(result: CheckResult, code: str, rel: str, mf: MaskFile) -> tuple[np.ndarray, str]:
    """The fixed array for one mask, and a note for the report."""
    info = result.encoding
    a = mf.array
    kind = _kind(result, rel)
    if code == "inconsistent-encoding":
        family = next((f.data.get("families", {}).get(rel) for f in result.by_code(code)), None)
        code = {"binary": "binary-255", "color": "color-mask", "luminance": "color-mask"}.get(family, "binary-255")
    if code in ("color-mask", "lossy-mask", "interpolation-artifacts") and (a.ndim == 3 or kind == "luminance"):
        if a.ndim == 3 and a.dtype.kind == "f":
            return round_float(a), "rounded to whole numbers"
        if kind == "luminance" and info.luminance:
            table = info.luminance_match[1] if info.luminance_match else dict(enc.LUMINANCE_TABLES)[info.luminance]
            return luminance_to_index(a, table), f"grey brightness → {palettes.palette_label(info.luminance_match, 'VOC')} class ({info.luminance})"
        cmap = info.color_map
        new = colors_to_index(a, cmap)
        rgb = a[..., :3]
        known = {k for k in cmap}
        key = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2].astype(np.int64)
        unknown = int(np.count_nonzero(~np.isin(key, list(known))))
        extra = f"; {unknown} pixels of unknown colours took the nearest class colour" if unknown else ""
        return new, f"colours → class indices ({len(cmap)} colours){extra}"
    if code == "binary-255":
        return binary_to_index(a), "255 → 1"
    if code == "non-integer-mask":
        return round_float(a), "rounded to whole numbers"
    dominant = _class_values(result, code, rel, a)
    if code == "lossy-mask":
        return snap_to_values(a, dominant), f"snapped to the nearest of {', '.join(map(str, dominant))}"
    if code == "interpolation-artifacts":
        return fill_from_neighbours(without_bands(a, dominant), dominant), f"in-between values → neighbouring class ({', '.join(map(str, dominant))})"
    raise FixError(f"no transform for {code}")


def _kind(result: CheckResult, rel: str) -> str | None:
    for f in result.by_code("color-mask"):
        if rel in f.files:
            return f.data.get("kind")
    return None


def _class_values(result: CheckResult, code: str, rel: str, a: np.ndarray) -> list[int]:
    """The values a damaged mask's pixels may take: its own class values, kept to the project's when declared."""
    dominant = None
    for f in result.by_code(code) + result.by_code("lossy-mask") + result.by_code("interpolation-artifacts"):
        if rel in f.files and f.data.get("dominant"):
            dominant = list(f.data["dominant"])
            break
    if dominant is None:  # a JPEG mask without stray values: keep what is there
        dominant = [int(v) for v in np.unique(a)]
    p = result.project
    if not p.inferred:
        valid = set(range(p.num_classes)) | set(p.value_map) | ({p.ignore_index} if p.ignore_index is not None else set())
        kept = [v for v in dominant if v in valid]
        dominant = kept or sorted(valid)
    return sorted(dominant)


def _target(rel: str) -> str:
    p = Path(rel)
    return p.as_posix() if p.suffix.lower() == ".png" else p.with_suffix(".png").as_posix()


def _plan_file(result: CheckResult, code: str, rel: str) -> FileFix:
    target = _target(rel)
    try:
        _inside(result.root, rel)
        _inside(result.root, target)
    except FixError as exc:
        return FileFix(rel, target, refused=str(exc))
    if target != rel and (result.root / target).exists():
        return FileFix(rel, target, refused=f"{target} already exists; remove one of the two masks first")
    if write_protected(result.root / rel) or write_protected(result.root / target):
        return FileFix(rel, target, refused="is write-protected on disk (the file or its folder); give it write "
                                            "permission to let the fix rewrite it")
    try:
        mf = read_mask_file(result.root / rel)
        new, note = _transform(result, code, rel, mf)
    except FixRefused as exc:
        return FileFix(rel, target, refused=str(exc))
    except (OSError, ValueError) as exc:
        return FileFix(rel, target, refused=f"cannot be read ({exc})")
    changed = _changed(mf.array, new)
    return FileFix(rel, target, changed=changed, pixels=int(new.size), note=note)


def _changed(old: np.ndarray, new: np.ndarray) -> int:
    if old.ndim == 3:
        return int(new.size)  # every pixel changes representation
    if old.dtype.kind == "f":
        return int(np.count_nonzero(old != new))
    return int(np.count_nonzero(old.astype(np.int64) != new.astype(np.int64)))


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` resolved; raises FixError when it lies outside the dataset root."""
    root = Path(root).resolve()
    path = (root / rel).resolve()
    if path != root and root not in path.parents:
        raise FixError(f"{rel} resolves to {path}, outside the dataset root {root}; not touching it")
    return path


# ---------------------------------------------------------------- applying


def apply_fix(plan: FixPlan, backup: bool = True) -> FixReport:
    """Back up the originals, then write every fixed mask atomically (see the module doc)."""
    root = plan.root
    todo = plan.writes
    if not todo:
        return FixReport(plan=plan, backup_dir=None, written=())
    for f in todo:
        _inside(root, f.path)
        _inside(root, f.target)
    pfile = project_path(root)
    backup_dir = None
    if backup:
        backup_dir = _new_backup_dir(root)
        copies = [(root / f.path, backup_dir / f.path) for f in todo]
        if plan.saves_project and pfile.exists():
            copies.append((pfile, backup_dir / PROJECT_FILE))
        _durable_copies(copies, root)
    colors = list(plan.project.colors)
    written, removed, errors = [], [], []
    for f in todo:
        try:
            mf = read_mask_file(root / f.path)
            new, _ = _transform(plan.result, plan.code, f.path, mf)
            write_mask(_inside(root, f.target), new, colors)
        except (FixRefused, OSError, ValueError) as exc:
            errors.append(f"{f.path}: {exc}")
            continue
        written.append(f.target)
        if f.target != f.path:
            (root / f.path).unlink()
            removed.append(f.path)
    saved = save_project(root, plan.project) if plan.saves_project and written else None
    return FixReport(plan=plan, backup_dir=backup_dir, written=tuple(written), removed=tuple(removed),
                     project_file=saved, errors=tuple(errors))


def _durable_copies(copies: list[tuple[Path, Path]], root: Path) -> None:
    """Copy, then fsync every copy and every folder up to the root: on disk before any original is replaced."""
    folders: set[Path] = set()
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        _fsync_path(dst)
        parent = dst.parent
        while parent != root and root in parent.parents:
            folders.add(parent)
            parent = parent.parent
    folders.add(root)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        _fsync_path(folder)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; the copy itself was synced
        pass
    finally:
        os.close(fd)


def _new_backup_dir(root: Path) -> Path:
    base = _inside(root, BACKUP_DIR)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / stamp
    n = 2
    while path.exists():
        path = base / f"{stamp}-{n}"
        n += 1
    path.mkdir(parents=True)
    return path

