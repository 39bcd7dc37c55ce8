"""The mask the editor opens for a pair: class indices it can paint, or a read-only view and why.

:func:`opened_mask` decides, from the pair's decoded files (:mod:`.pair_files`)
and the project, what :class:`~fcnstudio.core.session.EditSession` shows:

- no mask file yet: a blank mask of the image's size, new (saved on the first edit);
- a mask that cannot be read: a blank view, read-only ``unreadable``;
- otherwise what :func:`~fcnstudio.core.labels.classify_mask` makes of the stored
  values (read-only with the checker code whose fix converts it), then
  read-only when the file is write-protected or its size is not the image's.

Pure: no session state, so a newcomer can read the rules in one place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Pair
from .labels import ReadOnly, classify_mask
from .pair_files import PairFiles, write_protected
from .project import Project

__all__ = ["opened_mask", "protection"]


def protection(target: Path, shown: str) -> ReadOnly | None:
    """``write-protected`` when the file saving would write (``target``; ``shown`` as the user sees it) is."""
    if not write_protected(target):
        return None
    return ReadOnly(
        "write-protected",
        f"{shown} is write-protected on disk, so edits could not be saved. "
        "Copy the dataset to a folder you can write to, or change the permissions.",
    )


def opened_mask(pair: Pair, files: PairFiles, image: np.ndarray | None, project: Project, target: Path, shown: str):
    """``(mask, stored, read_only, is_new)`` for ``pair``: ``stored`` is the values on disk when read-only.

    ``target``: where saving writes the mask (``shown``: that path as the user sees it)."""
    shape = image.shape[:2] if image is not None else None
    dtype = project.mask_dtype
    if pair.mask is None:
        if shape is None:
            return None, None, None, False
        return np.zeros(shape, dtype), None, protection(target, shown), True
    if files.mask_file is None:
        blank = np.zeros(shape, dtype) if shape is not None else None
        return blank, None, ReadOnly("unreadable", files.mask_error or "cannot be read"), False
    mf = files.mask_file
    mask, read_only = classify_mask(mf, project, dtype, pair.mask.name, files.hist)
    if read_only is None:
        read_only = protection(target, shown)
    if read_only is None and shape is not None and mask.shape != shape:
        h, w = shape
        rotated = mask.shape == (w, h)
        read_only = ReadOnly(
            "shape-mismatch",
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}"
            + (" (rotated)" if rotated else "") + ": it cannot be painted over this image.",
        )
    return mask, (mf.array if read_only is not None else None), read_only, False
