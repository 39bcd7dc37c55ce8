"""The review's per-image class probabilities: ``probs/<stem>.npz``, readable by any numpy.

One file per held-out image, written by :func:`write_probs` (atomically: a
killed review leaves the old file or none, never a torn one)::

    probs    float16, H x W x C: softmax probabilities of the fold model that did not train on the
             image, at the image's full resolution, rounded to multiples of 1/1024 (exact in
             float16; the files compress 2-3x better than raw float16) — they sum to 1 over C
             within C/2048
    classes  str, C: the class names, in index order

Read with ``np.load(path)["probs"]`` (no pickle needed) or :func:`read_probs`.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io import atomic_write_bytes

__all__ = ["PROBS_DIR", "PROBS_STEP", "ProbMap", "probs_path", "read_probs", "write_probs"]

PROBS_DIR = "probs"
#: Stored probabilities are multiples of this (exact in float16: its mantissa has 10 bits).
PROBS_STEP = 2.0 ** -10


@dataclass(frozen=True, eq=False)
class ProbMap:
    """``probs`` H x W x C float16; ``classes`` the C class names."""

    probs: np.ndarray
    classes: tuple


def probs_path(review_dir: str | os.PathLike, stem: str) -> Path:
    return Path(review_dir) / PROBS_DIR / f"{stem}.npz"


def write_probs(path: str | os.PathLike, probs: np.ndarray, classes: Sequence[str]) -> None:
    """Write ``probs`` (H x W x C, any float dtype; stored as float16 multiples of :data:`PROBS_STEP`) and the
    class names, atomically (the folder is made when missing)."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] != len(classes):
        raise ValueError(f"probs must be H x W x C with C = {len(classes)} classes, got shape {probs.shape}")
    if probs.dtype.kind != "f":
        raise ValueError(f"probs must be floating point, got {probs.dtype}")
    stored = (np.rint(probs.astype(np.float32) / PROBS_STEP) * PROBS_STEP).astype(np.float16)
    buf = io.BytesIO()
    np.savez_compressed(buf, probs=np.ascontiguousarray(stored),
                        classes=np.array([str(c) for c in classes], dtype=np.str_))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def read_probs(path: str | os.PathLike) -> ProbMap:
    """The arrays of a probs file; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            probs, classes = data["probs"], data["classes"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path.name}: not a review probabilities file ({exc})") from exc
    if probs.ndim != 3 or probs.shape[2] != len(classes):
        raise ValueError(f"{path.name}: probs {probs.shape} do not match {len(classes)} classes")
    return ProbMap(probs=probs, classes=tuple(str(c) for c in classes))
