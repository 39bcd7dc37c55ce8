"""The findings index: how many error findings of the checker name each pair (the marks in the pair list)."""

from __future__ import annotations

from typing import Iterable

from .dataset import Dataset
from .checker.findings import Finding

__all__ = ["error_counts"]


def error_counts(dataset: Dataset | None, findings: Iterable[Finding]) -> dict[int, int]:
    """``{pair index: number of error findings that name its image or mask}`` (pairs without any left out)."""
    findings = tuple(findings)
    counts: dict[int, int] = {}
    if dataset is None or not findings:
        return counts
    by_file = {}
    root = dataset.root
    for i, p in enumerate(dataset.pairs):
        for path in (p.image, p.mask):
            if path is not None:
                try:
                    by_file[path.relative_to(root).as_posix()] = i
                except ValueError:
                    by_file[dataset.relative(path)] = i
    for f in findings:
        if f.severity != "error":
            continue
        for i in {by_file[name] for name in f.files if name in by_file}:
            counts[i] = counts.get(i, 0) + 1
    return counts
