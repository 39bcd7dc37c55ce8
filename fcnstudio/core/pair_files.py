"""Reading one image/mask pair for the editor: decode, and decide whether the mask can be painted.

Qt-free, and safe to run in a worker thread (:func:`read_pair` touches no
session state): the editing session reads the neighbouring pairs ahead with it.

A mask can be painted when it is a 2-D integer mask whose stored values are
the class indices themselves (or the ignore value), in a lossless format, in
a file the user may write. Everything else opens read-only
(:class:`ReadOnly`), with the code of the checker finding whose fix converts
it, and a best-effort class-index view for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .dataset import Pair
from .io import ImageReadError, MaskFile, read_image, read_mask_file
from .project import Project

__all__ = ["ReadOnly", "PairFiles", "classify_mask", "histogram", "read_pair", "stamp", "write_protected"]


@dataclass(frozen=True)
class ReadOnly:
    """Why the current mask cannot be edited; ``code`` is the finding whose fix helps."""

    code: str
    message: str


@dataclass(frozen=True, eq=False)
class PairFiles:
    """A pair's files as decoded (or why they could not be), and their stat stamp when read."""

    pair: Pair
    stamp: tuple
    image: np.ndarray | None
    image_error: str | None
    mask_file: MaskFile | None
    mask_error: str | None
    #: value histogram of a 2-D uint8/uint16 mask (computed off the GUI thread), else None
    hist: np.ndarray | None = None


def write_protected(path: Path) -> bool:
    """``path`` (or, when it does not exist yet, its nearest existing folder) has no write permission bit.

    Checked on the mode bits rather than with ``os.access``: running as root,
    ``os.access`` says yes to everything, and a dataset someone marked
    read-only must stay untouched.
    """
    path = Path(path)
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), None)
    try:
        if probe is None or not probe.stat().st_mode & 0o222:
            return True
        if path.exists():  # replacing a file renames a temp file in its folder
            return not path.parent.stat().st_mode & 0o222
    except OSError:
        return True
    return False


def stamp(pair: Pair) -> tuple:
    out = []
    for path in (pair.image, pair.mask):
        if path is None:
            continue
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append((str(path), None, None, None))
    return tuple(out)


def read_pair(pair: Pair) -> PairFiles:
    """Decode a pair's image and mask (safe to call from a worker thread: no session state)."""
    file_stamp = stamp(pair)
    image = mask_file = image_error = mask_error = None
    if pair.image is not None:
        try:
            image = read_image(pair.image)
        except ImageReadError as exc:
            image_error = str(exc)
    hist = None
    if pair.mask is not None:
        try:
            mask_file = read_mask_file(pair.mask)
        except ImageReadError as exc:
            mask_error = str(exc)
        else:
            if mask_file.array.ndim == 2 and mask_file.array.dtype in (np.uint8, np.uint16):
                hist = histogram(mask_file.array)
    return PairFiles(pair, file_stamp, image, image_error, mask_file, mask_error, hist)


def classify_mask(mf: MaskFile, project: Project, dtype: np.dtype, name: str = "mask",
                  hist: np.ndarray | None = None) -> tuple[np.ndarray, ReadOnly | None]:
    """A class-index mask for editing, or a display mask plus why it is read-only.

    Editable: a 2-D integer mask whose values are class indices (or the
    ignore value) as stored, in a lossless format. Everything else is shown
    read-only with the code of the finding whose fix converts it.
    """
    raw = mf.array
    n = project.num_classes
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
    if mf.format == "JPEG":
        return _display_values(raw, values, project), ReadOnly(
            "lossy-mask", "This mask is a JPEG: compression changed its values. Convert it to PNG first."
        )
    if values and set(values) <= {0, 255} and 255 in values and (remapped or not valid):
        return _display_values(raw, values, project, binary=True), ReadOnly(
            "binary-255", "This mask stores its classes as 0/255. Convert it to 0/1 class indices to edit it."
        )
    if remapped:
        return _display_values(raw, values, project), ReadOnly(
            "label-map", "The project's label map re-numbers this mask's values: convert the masks to class indices first."
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


def histogram(mask: np.ndarray) -> np.ndarray:
    """Pixel count of each value of a uint8 (256 bins) or uint16 (65536 bins) mask.

    OpenCV's calcHist: ~10x faster than np.bincount, which first widens the
    array to int64 (a 64-Mpx mask would cost 512 MB and a second).
    """
    bins = 256 if mask.dtype == np.uint8 else 65536
    m = np.ascontiguousarray(mask)
    if m.ndim != 2 or m.shape[0] >= 2**31 or m.dtype not in (np.uint8, np.uint16):
        return np.bincount(m.ravel(), minlength=bins)
    rows = max(1, (1 << 24) // max(1, m.shape[1]))  # float32 bins are exact below 2**24 per chunk
    total = np.zeros(bins, np.int64)
    for y in range(0, m.shape[0], rows):
        hist = cv2.calcHist([m[y : y + rows]], [0], None, [bins], [0, bins])
        total += np.rint(hist.ravel()).astype(np.int64)
    return total


def _display_values(raw, values, project, binary=False) -> np.ndarray:
    """Stored values as a uint16 display mask (255 → 1 for a 0/255 mask; negatives → 0)."""
    disp = np.clip(raw, 0, 65535).astype(np.uint16)
    if binary:
        disp[disp == 255] = 1
    return disp


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
