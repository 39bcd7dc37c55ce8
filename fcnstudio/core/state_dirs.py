"""Where a dataset keeps FCN Studio's own files: ``DATASET/.fcnstudio/`` and the folders in it.

One place names them, with nothing but :mod:`pathlib` imported, so the window
can look for a dataset's runs or reviews as it opens without loading the code
that reads them (the review package alone costs ~50 ms of start-up).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STATE_DIR", "reviews_dir", "runs_dir"]

#: The folder inside a dataset that holds runs, reviews, backups and the crash journal.
STATE_DIR = ".fcnstudio"


def runs_dir(dataset_root: str | os.PathLike) -> Path:
    """``DATASET/.fcnstudio/runs``: one folder per training run."""
    return Path(dataset_root) / STATE_DIR / "runs"


def reviews_dir(dataset_root: str | os.PathLike) -> Path:
    """``DATASET/.fcnstudio/reviews``: one folder per label review."""
    return Path(dataset_root) / STATE_DIR / "reviews"
