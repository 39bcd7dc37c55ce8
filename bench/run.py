"""Run FCN Studio's benchmarks and print how each measurement compares with its target.

    python bench/run.py                    # every group, as a table
    python bench/run.py --only checker     # one group (repeat --only for more)
    python bench/run.py --json             # one JSON object on stdout: {"results": [...]}

Each group is one or more modules in ``bench/`` that expose ``run() -> list[dict]``,
rows of ``{"name": str, "value": number, "unit": str, "target": str, "ok": bool}``.
A module that is not there yet is skipped with a note on stderr; a module that
raises, or returns rows of the wrong shape, becomes a row with ``ok: false``,
``value: null`` and an ``error`` text, so one broken benchmark never hides the
others. The runner adds ``group`` and ``module`` to every row.

Exit status: 0 when every row is ok, 1 when a target was missed, a module
failed or no module was found, 2 for a usage error (e.g. an unknown group).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

#: group -> the modules (file stems in the bench folder) that make it up, in order.
GROUPS: dict[str, tuple[str, ...]] = {
    "checker": ("checker",),
    "editor": ("editor", "editor_core"),
    "training": ("training", "training_cli"),
    "reliability": ("reliability", "training_soak"),
    "runs": ("runs",),
    "quality": ("quality",),
    "distributed": ("ddp",),
    "review": ("review", "review_gui"),
}

ROW_KEYS = ("name", "value", "unit", "target", "ok")


def _note(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _stdout_to_stderr():
    """While a benchmark runs, anything it prints (even from C code or a child
    process) goes to stderr, so that ``--json`` leaves exactly one object on stdout."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (e.g. captured by a test): Python-level only
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _import_path(bench_dir: Path) -> None:
    """Benchmarks may ``import fcnstudio``, ``import bench.x`` or a sibling ``import x``."""
    for entry in (str(REPO), str(bench_dir)):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _load(path: Path):
    name = f"_fcnbench_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _failed(group: str, module: str, what: str, error: str) -> dict:
    return {
        "name": f"{module}: {what}",
        "value": None,
        "unit": "",
        "target": "runs without error",
        "ok": False,
        "error": error,
        "group": group,
        "module": module,
    }


def _check_row(row) -> str | None:
    """Why ``row`` is not a valid result row, or None."""
    if not isinstance(row, dict):
        return f"a row must be a dict, got {type(row).__name__}"
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        return f"row {row.get('name', '?')!r} lacks {', '.join(missing)}"
    value = row["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"row {row['name']!r}: value must be a number, got {value!r}"
    if not isinstance(row["ok"], bool):
        return f"row {row['name']!r}: ok must be true or false, got {row['ok']!r}"
    return None


def _jsonable(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if hasattr(value, "item") and callable(value.item):  # numpy scalars
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            value = str(value)
        out[str(key)] = value
    return out


def run_module(group: str, path: Path) -> list[dict]:
    """The rows of one benchmark module; failures become ``ok: false`` rows."""
    module = path.stem
    try:
        with _stdout_to_stderr():
            mod = _load(path)
            run = getattr(mod, "run", None)
            if not callable(run):
                return [_failed(group, module, "run", f"{path.name} has no run() function")]
            t0 = time.perf_counter()
            rows = run()
            elapsed = time.perf_counter() - t0
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a benchmark is a failure too
        _note(f"{path.name} failed:\n{traceback.format_exc().rstrip()}")
        return [_failed(group, module, "run", f"{type(exc).__name__}: {exc}")]
    _note(f"{path.name}: {elapsed:.1f} s")
    if not isinstance(rows, (list, tuple)):
        return [_failed(group, module, "run", f"run() must return a list of rows, got {type(rows).__name__}")]
    out = []
    for row in rows:
        problem = _check_row(row)
        if problem:
            out.append(_failed(group, module, "bad row", problem))
            continue
        row = _jsonable(row)
        if row["value"] is None:  # NaN or inf
            row["ok"] = False
        row.setdefault("group", group)
        row.setdefault("module", module)
        out.append(row)
    return out


def collect(only: list[str] | None = None, bench_dir: str | os.PathLike | None = None) -> list[dict]:
    """Run the benchmark groups in ``only`` (default: all) found in ``bench_dir``."""
    bench_dir = Path(bench_dir).resolve() if bench_dir is not None else BENCH_DIR
    groups = list(only) if only else list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    _import_path(bench_dir)
    results: list[dict] = []
    for group in groups:
        for module in GROUPS[group]:
            path = bench_dir / f"{module}.py"
            if not path.is_file():
                _note(f"skipping {group}/{module}: {path} does not exist yet")
                continue
            results.extend(run_module(group, path))
    return results


def _fmt_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def format_table(results: list[dict]) -> str:
    header = ("name", "value", "unit", "target", "result")
    rows = [
        (
            str(r["name"]),
            _fmt_value(r["value"]),
            str(r["unit"]),
            str(r["target"]),
            "OK" if r["ok"] else ("ERROR" if "error" in r else "MISSED"),
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [c.ljust(w) if i != 1 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    for r in results:
        if "error" in r:
            lines.append(f"{r['name']}: {r['error']}")
    ok = sum(1 for r in results if r["ok"])
    lines.append(f"{ok} of {len(results)} ok")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description="Run FCN Studio's benchmarks.")
    parser.add_argument("--only", action="append", choices=list(GROUPS), metavar="GROUP",
                        help=f"run only this group ({', '.join(GROUPS)}); repeat for more")
    parser.add_argument("--json", action="store_true", help='print one JSON object {"results": [...]} on stdout')
    parser.add_argument("--dir", default=None, help="folder of the benchmark modules (default: bench/)")
    args = parser.parse_args(argv)
    results = collect(args.only, args.dir)
    if not results:
        _note("no benchmark module found")
    if args.json:
        print(json.dumps({"results": results}, indent=2, allow_nan=False))
    else:
        print(format_table(results))
    return 0 if results and all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
