"""The label checker: what in a dataset would make a network predict only zeros.

    result = check_dataset("path/to/dataset", workers=4, progress=print)
    for f in result.findings: print(f.code, f.path, f.message)

How it works:

1. **Scan** (:mod:`fcnstudio.core.checker.pair_stats`): every pair is decoded and
   summarised in a pool of worker processes — a value histogram, shape, dtype,
   flags; never the arrays. At most ``4 × workers`` chunks are in flight, so
   memory stays bounded whatever the dataset size (the summaries kept are a few
   hundred bytes per pair). ``workers=1`` (and datasets of four pairs or fewer)
   runs in this process, without a pool.
2. **Judge** (:mod:`fcnstudio.core.checker.rules`): the summaries are read
   against the project and each other, giving per-file findings (one
   :class:`~fcnstudio.core.checker.findings.Finding` per file, ``path`` = that file),
   dataset-wide findings (``path`` ``""``, ``files`` = the files concerned) and
   :class:`~fcnstudio.core.checker.stats.DatasetStats`, gathered in a
   :class:`~fcnstudio.core.checker.result.CheckResult`.

The project: with an ``fcnstudio.json`` its classes, label map and ignore index
are the truth (``label-out-of-range`` uses them; a label map mapping 255 → 1 makes
0/255 masks fine). Without one — or when the caller passes an *inferred*
project — the classes are inferred from every mask the scan read
(:func:`fcnstudio.core.checker.classes.read_classes`, leaving out damaged values
and outliers; the editor runs the same on a sample, see
:mod:`fcnstudio.core.labels`), and ``result.project.notes`` says how.

Progress: ``progress(done, total)`` is called in the calling thread as pairs
finish. Cancelling: ``cancel()`` is polled between pairs (and at least every
0.2 s); when it returns True the pool is shut down and :class:`CheckCancelled`
is raised — there is no partial result.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from ..dataset import Dataset, open_dataset
from ..procpool import process_pool
from ..project import Project, project_path, read_project
from .nnunet_json import channel_findings, dataset_json_path, load_dataset_json
from .pair_stats import PairSummary, PairTask, analyse_pair
from .result import CheckResult, fingerprint
from .rules import evaluate

__all__ = [
    "CheckCancelled",
    "CheckError",
    "check_dataset",
    "default_workers",
]

#: Datasets with this many pairs or fewer are checked in-process (a pool costs more than it saves).
IN_PROCESS_MAX = 4

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class CheckCancelled(Exception):
    """The check was cancelled through its ``cancel`` callable; ``done`` of ``total`` pairs were read."""

    def __init__(self, done: int, total: int):
        super().__init__(f"check cancelled after {done} of {total} pairs")
        self.done = done
        self.total = total


class CheckError(RuntimeError):
    """The check itself could not run (a worker process died); the message says why."""


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_dataset(
    dataset: Dataset | str | os.PathLike,
    project: Project | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> CheckResult:
    """Check every pair of ``dataset`` (a :class:`Dataset` or a folder); see the module doc.

    Raises :class:`~fcnstudio.core.dataset.DatasetError` for a folder that is
    not a dataset, :class:`~fcnstudio.core.project.ProjectError` for an
    unusable fcnstudio.json, :class:`CheckCancelled` when cancelled,
    :class:`CheckError` when a worker process dies.
    """
    if not isinstance(dataset, Dataset):
        dataset = open_dataset(dataset)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    declared = project if project is not None and not project.inferred else None
    if project is None and project_path(dataset.root).exists():
        declared = read_project(dataset.root)
    elif project is None and dataset_json_path(dataset):
        declared = load_dataset_json(dataset)
    stamp = fingerprint(dataset, project)
    tasks = [
        PairTask(
            index=i,
            stem=p.stem,
            image=str(p.image) if p.image else None,
            mask=str(p.mask) if p.mask else None,
            image_rel=dataset.relative(p.image),
            mask_rel=dataset.relative(p.mask),
        )
        for i, p in enumerate(dataset.pairs)
    ]
    summaries: list[PairSummary | None] = [None] * len(tasks)
    for s in _scan(tasks, workers or default_workers(), progress, cancel):
        summaries[s.index] = s
    resolved, findings, stats, info = evaluate([s for s in summaries if s is not None], declared)
    findings += channel_findings(dataset, {s.image.path: s.image.channels for s in summaries if s and s.image and not s.image.error})
    findings.sort(key=lambda f: (("error", "warning", "info").index(f.severity), f.code, f.path))
    return CheckResult(dataset=dataset, project=resolved, findings=tuple(findings), stats=stats, encoding=info,
                       fingerprint=stamp)


# ---------------------------------------------------------------- scanning


def analyse_chunk(tasks: list[PairTask]) -> list[PairSummary]:
    return [analyse_pair(t) for t in tasks]


def _chunks(tasks: list, size: int) -> Iterator[list]:
    for i in range(0, len(tasks), size):
        yield tasks[i : i + size]


def pool_context() -> multiprocessing.context.BaseContext:
    """How worker processes start.

    On Linux, ``fork`` when this process runs a single thread (the CLI: fast,
    and the calling script needs no ``if __name__ == "__main__"`` guard), else
    ``forkserver`` (a GUI calling from a worker thread: forking a threaded
    process can deadlock). Elsewhere ``spawn``, the platform default. With
    forkserver and spawn the main script is re-imported in the workers, so it
    needs the usual ``__main__`` guard.
    """
    if sys.platform.startswith("linux"):
        if threading.active_count() == 1:
            return multiprocessing.get_context("fork")
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["fcnstudio.core.checker.pair_stats", "fcnstudio.core.checker.run"])
        return ctx
    return multiprocessing.get_context("spawn")


def _scan(tasks: list[PairTask], workers: int, progress: Progress | None, cancel: Cancel | None) -> Iterator[PairSummary]:
    total = len(tasks)
    if workers <= 1 or total <= IN_PROCESS_MAX:
        for i, t in enumerate(tasks):
            if cancel is not None and cancel():
                raise CheckCancelled(i, total)
            yield analyse_pair(t)
            if progress is not None:
                progress(i + 1, total)
        return
    yield from run_pool(analyse_chunk, tasks, workers, progress, cancel)


def run_pool(fn, tasks: list, workers: int, progress: Progress | None = None, cancel: Cancel | None = None) -> Iterator:
    """Run ``fn(chunk) -> list`` over ``tasks`` in a process pool, streaming the results.

    Chunks of a few tasks keep the per-task overhead low; at most ``4 × workers``
    chunks are in flight. Also used by the benchmark for its decode-only floor.
    """
    total = len(tasks)
    size = max(1, min(8, total // (workers * 8)))
    chunks: Iterable[list] = _chunks(tasks, size)
    done = 0
    with process_pool(workers, pool_context()) as pool:
        pending = {}
        try:
            for chunk in chunks:
                pending[pool.submit(fn, chunk)] = len(chunk)
                if len(pending) >= workers * 4:
                    break
            while pending:
                finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                if cancel is not None and cancel():
                    raise CheckCancelled(done, total)
                for fut in finished:
                    n = pending.pop(fut)
                    try:
                        results = fut.result()
                    except BrokenProcessPool as exc:
                        raise CheckError(f"a checker worker process died ({exc}); try --workers 1") from exc
                    yield from results
                    done += n
                    nxt = next(chunks, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt)] = len(nxt)
                if finished and progress is not None:
                    progress(done, total)
        except BaseException as exc:
            for fut in pending:
                fut.cancel()
            if isinstance(exc, (CheckCancelled, KeyboardInterrupt)):
                # Cancel must answer within a second: don't wait for running chunks,
                # whose results nobody wants. The workers only read files.
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
