"""The checker dock's background work — a check, a fix plan, a fix — and the results it keeps.

Each ``*_work`` function returns the work of a :class:`~fcnstudio.gui.jobs.Job`
(``work(job) -> value``): plain core code that reports
``job.report_progress(done, total)`` and polls ``job.stop_requested``; no
widget is touched outside the GUI thread. What the checks found is kept in a
:class:`CheckResults`, not in a widget.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.fixes import apply_fix, plan_fix
from fcnstudio.gui.jobs import Job

__all__ = ["CheckResults", "apply_work", "check_work", "plan_work"]

Work = Callable[[Job], object]


# ---------------------------------------------------------------------- the work and its results


class CheckResults:
    """The last check's result (and when it ended) per dataset root; for this run of the app only."""

    def __init__(self) -> None:
        self._by_root: dict[str, tuple[object, float]] = {}

    @staticmethod
    def _key(root) -> str:
        return str(Path(root).resolve())

    def put(self, result) -> None:
        self._by_root[self._key(result.root)] = (result, time.time())

    def get(self, root):
        entry = self._by_root.get(self._key(root)) if root is not None else None
        return entry[0] if entry else None

    def when(self, root) -> float | None:
        """``time.time()`` of the check's end, or None."""
        entry = self._by_root.get(self._key(root)) if root is not None else None
        return entry[1] if entry else None

    def forget(self, root) -> None:
        self._by_root.pop(self._key(root), None)


def check_work(root: str | Path, workers: int | None = None) -> Work:
    """Check the dataset at ``root`` (read afresh from disk)."""

    def work(job: Job):
        return check_dataset(root, workers=workers, progress=job.report_progress, cancel=lambda: job.stop_requested)

    return work


def plan_work(root: str | Path, code: str, result=None, workers: int | None = None) -> Work:
    """The dry run of the fix for ``code``: from ``result`` when given, else after a fresh check."""

    def work(job: Job):
        source = result if result is not None else check_dataset(
            root, workers=workers, progress=job.report_progress, cancel=lambda: job.stop_requested)
        return None if job.stop_requested else plan_fix(source, code)

    return work


def apply_work(plan, backup: bool = True) -> Work:
    """Write the planned fix (originals backed up first). Not cancellable: each write is atomic, but a
    half-applied fix would leave the dataset with two encodings."""

    def work(job: Job):
        return apply_fix(plan, backup=backup)

    return work
