"""``fcnstudio check DATASET [--json] [--workers N] [--no-progress]``: the label checker.

Exit codes: 0 no error-severity finding, 1 at least one, 2 a usage or I/O
problem (not a dataset, no pairs, unreadable fcnstudio.json), with one line on
stderr. The report groups findings by code: severity, count, the first files,
the message and the fix command; then the class statistics and, when no
fcnstudio.json exists, how the classes were inferred.
"""

from __future__ import annotations

import json
import shlex
import sys
import time

from fcnstudio.cli import UsageError
from fcnstudio.core.checker.result import CheckResult
from fcnstudio.core.checker.run import CheckError, check_dataset
from fcnstudio.core.dataset import Dataset, DatasetError, open_dataset
from fcnstudio.core.project import ProjectError

FILES_SHOWN = 3


class ProgressBar:
    """``bar(done, total)`` redraws one line on stderr with ``\\r`` (at most ten times a second)."""

    def __init__(self, label: str = "checking", stream=None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fill = int(round((done / total if total else 1.0) * self.width))
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} pairs")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * (len(self.label) + self.width + 30) + "\r")
            self.stream.flush()
            self._shown = False


def open_for_check(path: str) -> Dataset:
    """The dataset at ``path``, or a UsageError (exit 2) saying why not."""
    try:
        dataset = open_dataset(path)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    if not dataset.complete_pairs:
        raise UsageError(
            f"{dataset.root}: no image/mask pairs found ({len(dataset.pairs)} files in "
            f"{dataset.image_dir.name}/ and {dataset.mask_dir.name}/ but no image with a mask of the same name)"
        )
    return dataset


def run_check(dataset: Dataset, workers: int | None, show_progress: bool) -> CheckResult:
    """check_dataset with a progress bar on a terminal; problems become UsageError (exit 2)."""
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be 1 or more, got {workers}")
    bar = ProgressBar() if show_progress and sys.stderr.isatty() else None
    try:
        return check_dataset(dataset, workers=workers, progress=bar)
    except (ProjectError, CheckError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{dataset.root}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()


def run(args) -> int:
    dataset = open_for_check(args.dataset)
    result = run_check(dataset, args.workers, not args.no_progress)
    text = json.dumps(result.to_json()) + "\n" if args.json else render_report(result, args.dataset)
    emit(text)
    return 1 if result.has_errors else 0


def emit(text: str, stream=None) -> None:
    """Write ``text`` so that no file name can crash it.

    A file name that is not valid UTF-8 reaches us with surrogate escapes, which
    a strict UTF-8 stdout refuses; those characters are written backslash-escaped.
    A reader that went away (``| head``) is not our error.
    """
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
    except BrokenPipeError:
        pass


# ---------------------------------------------------------------- the human report


def fix_command(dataset_arg: str, code: str) -> str:
    return f"fcnstudio fix {shlex.quote(str(dataset_arg))} --code {code}"


def render_findings(result: CheckResult, dataset_arg: str) -> list[str]:
    lines = []
    groups: dict[str, list] = {}
    for f in result.findings:
        groups.setdefault(f.code, []).append(f)
    for code, items in groups.items():
        sev = items[0].severity
        files = []
        for f in items:
            for p in f.files:
                if p not in files:
                    files.append(p)
        if not files:
            count = "dataset-wide"
        elif len(items) > 1:
            count = f"{len(items)} findings, {len(files)} files"
        else:
            count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        lines.append(f"{sev.upper():8s} {code}  ({count})")
        lines.append(f"  {items[0].message}")
        if files:
            more = f" … and {len(files) - FILES_SHOWN} more" if len(files) > FILES_SHOWN else ""
            lines.append(f"  files: {', '.join(files[:FILES_SHOWN])}{more}")
        if items[0].fixable:
            lines.append(f"  fix:   {fix_command(dataset_arg, code)}")
        lines.append("")
    return lines


def render_stats(result: CheckResult) -> list[str]:
    s = result.stats
    names = list(result.project.class_names)
    width = max([len("class")] + [len(n) for n in names])
    lines = ["Classes (share of labelled pixels, masks containing the class, median-frequency weight)"]
    lines.append(f"  {'index':>5}  {'class':<{width}}  {'pixels':>8}  {'masks':>6}  {'weight':>7}")
    for i, name in enumerate(names):
        frac = s.class_fraction[i] if i < len(s.class_fraction) else 0.0
        imgs = s.images_with_class[i] if i < len(s.images_with_class) else 0
        w = s.suggested_weights[i] if i < len(s.suggested_weights) else 0.0
        lines.append(f"  {i:>5}  {name:<{width}}  {frac * 100:7.2f}%  {imgs:>6}  {w:>7.3g}")
    extra = []
    if s.ignored_pixels:
        extra.append(f"{s.ignored_pixels} ignored (void) pixels")
    if s.unmapped_pixels:
        extra.append(f"{s.unmapped_pixels} pixels with no class (out of range or damaged)")
    if extra:
        lines.append("  " + "; ".join(extra))
    if s.encodings:
        lines.append("  mask encodings: " + ", ".join(f"{k} ({v})" for k, v in s.encodings.items()))
    lines.append("")
    return lines


def render_report(result: CheckResult, dataset_arg: str) -> str:
    p = result.project
    source = "inferred from the masks (no fcnstudio.json)" if p.inferred else f"from {p.source}"
    lines = [
        f"FCN Studio check: {result.root}",
        f"  {result.layout} layout, {result.pairs} pairs, {p.num_classes} classes {source}",
        "",
    ]
    if result.findings:
        lines += render_findings(result, dataset_arg)
    else:
        lines += ["No findings: the labels look consistent.", ""]
    lines += render_stats(result)
    if p.inferred and p.notes:
        lines.append("How the classes were inferred:")
        lines += [f"  - {n}" for n in p.notes]
        lines.append("")
    counts = {sev: sum(1 for f in result.findings if f.severity == sev) for sev in ("error", "warning", "info")}
    verdict = "errors found: fix them before training" if counts["error"] else "no errors"
    e, w = counts["error"], counts["warning"]
    lines.append(f"{e} error{'s' if e != 1 else ''}, {w} warning{'s' if w != 1 else ''}, {counts['info']} info — {verdict}.")
    return "\n".join(lines) + "\n"
