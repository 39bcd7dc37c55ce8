"""Pre-flight: run the label checker before the first training step.

An ``error`` finding (0/255 masks, a colour mask, a value outside the label
map, a shape mismatch, ...) would make the network learn the wrong thing or
crash with "target out of bounds" at step 1. :func:`preflight` runs the
checker (:func:`fcnstudio.core.checker.run.check_dataset`) and reports them; the
trainer refuses to start with a :class:`PreflightError` whose message lists
each code, the files and the fix (``fcnstudio fix DATASET --code CODE``).

``missing-mask`` / ``missing-image`` do not block: training uses complete
pairs only, so a dataset being annotated can be trained on as it grows.

The checker's result is cached in ``<dataset>/.fcnstudio/check_cache.json``,
keyed by the check's :func:`~fcnstudio.core.checker.result.fingerprint` (every
pair's file names, sizes and modification times and the contents of
``fcnstudio.json``); a later start with nothing changed reuses it, and so does
a start given a current :class:`~fcnstudio.core.checker.result.CheckResult`.
The cache is best-effort: a read-only dataset simply is not cached.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.checker.findings import Finding
from ..core.checker.result import CheckResult, fingerprint
from ..core.checker.stats import DatasetStats
from ..core.checker.run import check_dataset
from ..core.dataset import Dataset
from ..core.io import atomic_write_text
from ..core.project import Project, ProjectError

__all__ = ["NON_BLOCKING", "PreflightError", "PreflightResult", "preflight", "reuse_check", "fix_command"]

CACHE_NAME = "check_cache.json"
CACHE_VERSION = 1
#: Error codes that do not stop a run (the trainer uses complete pairs only).
NON_BLOCKING = ("missing-mask", "missing-image")

#: What to do about errors that have no automatic fix.
MANUAL_FIXES = {
    "shape-mismatch": "resize/transpose the mask to its image, or remove the pair",
    "unreadable": "replace or remove the file",
    "label-out-of-range": "map the values in the label map (fcnstudio.json) or repaint the masks",
    "nan-image": "replace the image (it holds NaN/Inf values)",
    "missing-mask": "annotate the image or remove it",
    "missing-image": "add the image or remove the mask",
}


@dataclass(frozen=True)
class PreflightResult:
    """What the check found. ``ok`` is False when a blocking error finding exists."""

    ok: bool
    findings: tuple[Finding, ...]
    stats: DatasetStats | None
    project: Project | None
    from_cache: bool = False

    @property
    def errors(self) -> tuple:
        return tuple(f for f in self.findings if f.severity == "error" and f.code not in NON_BLOCKING)

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.errors})


class PreflightError(ValueError):
    """Training refused because of error findings; ``findings`` holds them, ``str()`` says what to do."""

    def __init__(self, message: str, findings: tuple = (), result: PreflightResult | None = None) -> None:
        super().__init__(message)
        self.findings = tuple(findings)
        self.result = result

    @property
    def codes(self) -> list[str]:
        return sorted({f.code for f in self.findings})


def fix_command(dataset: Dataset | Path | str, code: str) -> str:
    root = dataset.root if isinstance(dataset, Dataset) else Path(dataset)
    return f"fcnstudio fix {shlex.quote(str(root))} --code {code}"


def describe_errors(dataset: Dataset, errors: tuple, max_files: int = 5) -> str:
    """The message of a :class:`PreflightError`: one block per code with files and the fix."""
    by_code: dict[str, list[Finding]] = {}
    for f in errors:
        by_code.setdefault(f.code, []).append(f)
    n = len(errors)
    lines = [f"training refused: the label check found {n} error{'s' if n != 1 else ''} "
             "that would make the network learn the wrong thing or crash:"]
    for code, fs in by_code.items():
        files: list[str] = []
        for f in fs:
            for p in f.files or ((f.path,) if f.path else ()):
                if p not in files:
                    files.append(p)
        shown = ", ".join(files[:max_files]) + (f" and {len(files) - max_files} more" if len(files) > max_files else "")
        lines.append(f"  {code}: {fs[0].message}")
        if shown:
            lines.append(f"    files: {shown}")
        if any(f.fix for f in fs):
            lines.append(f"    fix: {fix_command(dataset, fs[0].fix or code)}")
        else:
            lines.append(f"    fix: {MANUAL_FIXES.get(code, 'by hand (see the finding)')}")
    return "\n".join(lines)


# ---------------------------------------------------------------- cache


def _read_cache(dataset: Dataset, key: str) -> PreflightResult | None:
    path = dataset.root / ".fcnstudio" / CACHE_NAME
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 64 * 2**20:
            return None  # a FIFO or a link to a device would block or never end
        with open(path, "rb") as fh:
            data = json.loads(fh.read(64 * 2**20).decode("utf-8"))
        if data.get("version") != CACHE_VERSION or data.get("key") != key:
            return None
        findings = tuple(Finding.from_json(f) for f in data["findings"])
        project = Project.from_json(data["project"]) if data.get("project") else None
        if project is not None and data.get("project_inferred"):
            project = project.with_changes(inferred=True)
        stats = DatasetStats.from_json(data["stats"]) if data.get("stats") is not None else None
    except (OSError, ValueError, KeyError, TypeError, ProjectError):
        return None
    return _result(findings, stats, project, from_cache=True)


def _write_cache(dataset: Dataset, key: str, result: PreflightResult) -> None:
    folder = dataset.root / ".fcnstudio"
    data = {
        "version": CACHE_VERSION,
        "key": key,
        "findings": [f.to_json(full=True) for f in result.findings],
        "stats": result.stats.to_json() if result.stats is not None else None,
        "project": result.project.to_json() if result.project is not None else None,
        "project_inferred": bool(result.project is not None and result.project.inferred),
    }
    try:
        folder.mkdir(exist_ok=True)
        atomic_write_text(folder / CACHE_NAME, json.dumps(data))
    except OSError:
        pass  # read-only dataset: no cache, no harm


def _result(findings: tuple, stats: DatasetStats | None, project: Project | None, from_cache: bool = False) -> PreflightResult:
    blocking = any(f.severity == "error" and f.code not in NON_BLOCKING for f in findings)
    return PreflightResult(ok=not blocking, findings=tuple(findings), stats=stats, project=project,
                           from_cache=from_cache)


# ---------------------------------------------------------------- entry point


def reuse_check(check: CheckResult | None, project: Project | None = None) -> PreflightResult | None:
    """``check`` as a pre-flight result when it is still current for the files on disk and ``project``, else None.

    Costs one ``stat`` per file: callers on the GUI thread may use it before
    deciding to run a check in the background.
    """
    if check is None or not check.is_current(project):
        return None
    return _result(check.findings, check.stats, check.project, from_cache=True)


def preflight(dataset: Dataset, project: Project | None = None, *, check: CheckResult | None = None,
              use_cache: bool = True, workers: int | None = None, progress: Callable[[int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None, raise_on_error: bool = False) -> PreflightResult:
    """Check ``dataset`` (or reuse a check); with ``raise_on_error`` raise :class:`PreflightError`.

    ``project`` is the one training will use (None: fcnstudio.json or inferred
    by the checker from every mask). ``check``: a check already made (the
    Checker dock's); used as it is, without checking again, when it is still
    current for the files on disk and ``project``. ``cancel`` is polled by the
    checker (it raises :class:`fcnstudio.core.checker.run.CheckCancelled`).
    """
    result = reuse_check(check, project)
    key = fingerprint(dataset, project) if use_cache and result is None else ""
    if result is None and use_cache:
        result = _read_cache(dataset, key)
    if result is None:
        done = check_dataset(dataset, project, workers=workers, progress=progress, cancel=cancel)
        result = _result(done.findings, done.stats, done.project)
        if use_cache:
            _write_cache(dataset, key, result)
    if raise_on_error and not result.ok:
        raise PreflightError(describe_errors(dataset, result.errors), result.errors, result)
    return result
