"""Reading one image/mask pair for the editor: decode, stat stamps, write permission.

Qt-free, and safe to run in a worker thread (:func:`read_pair` touches no
session state): the editing session reads the neighbouring pairs ahead with it.
Whether the mask read can be painted is :func:`fcnstudio.core.labels.classify_mask`'s call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .dataset import Pair
from .io import ImageReadError, MaskFile, read_image, read_mask_file

__all__ = ["PairFiles", "histogram", "read_pair", "stamp", "write_protected"]


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
