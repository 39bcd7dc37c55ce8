"""Reliability benchmarks: crash-safe writes under SIGKILL, and hostile inputs at every entry point.

    python bench/reliability.py                 # every row, as a table
    python bench/reliability.py --quick         # small counts (a smoke run, ~1 min)
    python bench/reliability.py --only kill_survival_fix --only hostile_handled

``run()`` returns rows ``{"name", "value", "unit", "target", "ok"}`` (plus
detail fields) for ``bench/run.py``. The machinery lives with the tests, in
``tests/reliability/``: ``killharness.py`` (a zygote process forks writers
that are SIGKILLed at random moments; each target must be the complete old
or the complete new version), ``hostile.py`` (the hostile corpus and the
mutation fuzzer) and ``entrypoints.py`` (drives the browser, the checker, the
CLI, the editor, the training loader and predict, and judges each answer).

Rows:

- ``kill_survival_mask_save`` / ``_project_file`` / ``_checkpoint`` / ``_fix``:
  fraction of kills after which nothing was lost (>= 200 kills each).
- ``kill_survival_run_folder``: a real training run killed at random moments
  (config.json, events.jsonl, best.pt, last.pt stay usable).
- ``hostile_handled``: fraction of (entry point x hostile input) handled
  cleanly, over the corpus, >= 2000 fuzzed files, hostile project files and
  hostile checkpoints. Inputs that hit a known, reported bug count as *not*
  handled.
- ``recovery_roundtrip`` / ``soak_rss_growth_mb``: from ``bench/soak.py``
  (random edits → journal → fresh session → restore, fraction exact; memory
  growth over 500 pairs of a 2,000-pair dataset in the real window).
- ``soak_train_rss_growth_mb`` is ``bench/training_soak.py`` (a 30-minute
  training run; ``bench/run.py`` runs it in this group after these rows).

To add a row: write ``def bench_<name>(counts) -> dict`` returning one row and
add it to :data:`BENCHES` (``recovery_roundtrip`` and ``soak_rss_growth_mb``
are meant to go there).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
HELPERS = REPO / "tests" / "reliability"
for _p in (str(REPO), str(HELPERS), str(REPO / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

import entrypoints as ep  # noqa: E402
import hostile  # noqa: E402
import killharness as kh  # noqa: E402

#: Counts for a full run and for ``--quick``.
FULL = {"kills": 200, "fix_kills": 200, "run_kills": 60, "fuzz": 2000}
QUICK = {"kills": 20, "fix_kills": 20, "run_kills": 6, "fuzz": 200}


def _row(name: str, value: float, unit: str, target: str, ok: bool, **detail) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **detail}


def _kill_row(name: str, writer: str, rounds: int, **kw) -> dict:
    with tempfile.TemporaryDirectory(prefix="fcn-kill-") as tmp:
        t0 = time.perf_counter()
        s = kh.run_kills(writer, rounds, Path(tmp), seed=11, **kw)
        elapsed = time.perf_counter() - t0
    value = round(s.survival, 4)
    extra = {k: v for k, v in s.extra.items() if k != "changed"}
    if "changed" in s.extra:
        ch = s.extra["changed"]
        extra["killed_mid_fix"] = sum(1 for c in ch if 0 < c < max(ch))
    return _row(name, value, "fraction", "== 1.0", s.survival == 1.0 and s.rounds == rounds,
                kills=s.rounds, landed_mid_write=s.mid_write, finished_before_kill=s.finished_before_kill,
                seconds=round(elapsed, 1), failures=s.failures[:5], **extra)


def bench_kill_survival_mask_save(c) -> dict:
    return _kill_row("kill_survival_mask_save", "mask_save", c["kills"])


def bench_kill_survival_project_file(c) -> dict:
    return _kill_row("kill_survival_project_file", "project_file", c["kills"])


def bench_kill_survival_checkpoint(c) -> dict:
    return _kill_row("kill_survival_checkpoint", "checkpoint", c["kills"])


def bench_kill_survival_fix(c) -> dict:
    return _kill_row("kill_survival_fix", "fix", c["fix_kills"], fix_masks=12)


def bench_kill_survival_run_folder(c) -> dict:
    return _kill_row("kill_survival_run_folder", "train_run", c["run_kills"])


# ---------------------------------------------------------------- hostile inputs


def _corpus_reports(base: Path, cases: list, label: str) -> list[tuple[ep.Report, int]]:
    """Every in-process entry point plus the CLI over ``cases``; (report, number of placements)."""
    out = []
    n_placed = sum(2 if c.role == "both" else 1 for c in cases)
    kept = cases
    for entry in ("browser", "checker", "editor", "train-data"):
        if not ep.available()[entry]:
            continue
        rep, _hits = ep.run_entry(entry, base / f"{label}-{entry}", cases)
        if entry == "checker":  # placements set aside after hitting a known checker bug
            kept = ep.without(cases, rep.set_aside)
        out.append((rep, n_placed))
    if ep.available()["cli-check"]:
        # the CLI runs the same checker: leave out what already crashed it in-process (counted as failures)
        rep = ep.run_once("cli-check", base / f"{label}-cli", kept)
        out.append((rep, n_placed))
    return out


def _project_reports(base: Path) -> list[tuple[ep.Report, int]]:
    """Hostile fcnstudio.json files: load_project, the check CLI (in-process main), the editor, the trainer."""
    import contextlib
    import io

    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.labels import load_project
    from fcnstudio.core.project import ProjectError

    rep = ep.Report("project-file")
    for name, data in hostile.project_cases():
        root = base / "projects" / name / "dataset"
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        for stem in ("a", "b"):
            (root / "images" / f"{stem}.png").write_bytes(hostile.valid_files()["rgb.png"])
            (root / "masks" / f"{stem}.png").write_bytes(hostile.array_png(hostile.sample_mask(classes=2)))
        (root / "fcnstudio.json").write_bytes(data)
        key = f"project:{name}"
        rep.add(key)
        try:
            load_project(open_dataset(root))
            rep.add(key, "load_project accepted it")
        except ProjectError as exc:
            if "fcnstudio.json" not in str(exc):
                rep.add(key, f"message does not name fcnstudio.json: {exc}")
        except BaseException as exc:  # noqa: BLE001
            rep.add(key, ep.judge_exception(exc, ["fcnstudio.json"]) or str(exc))
        if ep.available()["cli-check"]:
            from fcnstudio.cli import main

            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    rc = main(["check", str(root), "--json", "--workers", "1", "--no-progress"])
                if rc != 2 or "fcnstudio.json" not in err.getvalue():
                    rep.add(key, f"check: rc={rc} {err.getvalue()[-200:]!r}")
            except BaseException as exc:  # noqa: BLE001
                rep.add(key, f"check raised {type(exc).__name__}: {exc}")
        if ep.available()["editor"]:
            from fcnstudio.core.session import EditSession

            try:
                s = EditSession(autosave=False)
                s.open(root)
                if not (s.project_error and "fcnstudio.json" in s.project_error):
                    rep.add(key, "editor opened without saying the project file was refused")
            except BaseException as exc:  # noqa: BLE001
                rep.add(key, f"editor raised {type(exc).__name__}: {exc}")
    return [(rep, rep.total)]


def _checkpoint_reports(base: Path) -> list[tuple[ep.Report, int]]:
    """Hostile checkpoints through ``fcnstudio predict`` (in-process main): exit 2, one line naming the file."""
    if not ep.available()["predict"]:
        return []
    import contextlib
    import io

    import torch

    from fcnstudio.cli import main
    from fcnstudio.train.checkpoint import save_checkpoint
    from fcnstudio.train.models import build_model

    folder = base / "checkpoints"
    folder.mkdir(parents=True)
    cfg = {"arch": "unet", "in_channels": 3, "num_classes": 2, "base_width": 2, "depth": 1, "norm": "batch"}
    model = build_model(cfg)
    good = folder / "good.pt"
    save_checkpoint(good, {"model_config": model.model_config, "model": model.state_dict(),
                           "class_names": ["bg", "fg"], "colors": [[0, 0, 0], [255, 0, 0]], "step": 1,
                           "channels": "rgb"})
    img = folder / "a.png"
    img.write_bytes(hostile.valid_files()["rgb.png"])
    sentinel = folder / "PWNED"
    cases = hostile.checkpoint_cases(good.read_bytes())
    g = torch.load(good, weights_only=True)

    def variant(**change) -> bytes:
        buf = io.BytesIO()
        torch.save({**g, **change}, buf)
        return buf.getvalue()

    cases += [("wrong-architecture", variant(model=build_model({**cfg, "base_width": 4}).state_dict())),
              ("unknown-arch", variant(model_config={**g["model_config"], "arch": "transformer"})),
              ("channels-mismatch", variant(channels="grey")),
              ("colors-junk", variant(colors=[["x"], 5])),
              ("pickle-exploit", hostile.evil_checkpoint(sentinel)),
              ("torch-pickle-exploit", hostile.evil_torch_checkpoint(sentinel))]
    rep = ep.Report("predict-checkpoint")
    for name, data in cases:
        ck = folder / f"{name}.pt"
        ck.write_bytes(data)
        key = f"checkpoint:{name}"
        rep.add(key)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = main(["predict", str(ck), str(img), "--out", str(folder / "out"), "--device", "cpu"])
            lines = [ln for ln in err.getvalue().strip().splitlines() if ln.strip()]
            if rc != 2 or len(lines) != 1 or ck.name not in lines[0]:
                rep.add(key, f"rc={rc} {err.getvalue()[-200:]!r}")
        except BaseException as exc:  # noqa: BLE001
            rep.add(key, f"raised {type(exc).__name__}: {str(exc)[:200]}")
    if sentinel.exists():
        rep.general.append("a checkpoint ran code while loading")
    return [(rep, rep.total)]


def bench_hostile_handled(c) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fcn-hostile-") as tmp:
        base = Path(tmp)
        results = []
        results += _corpus_reports(base, hostile.file_cases() + hostile.fs_cases(), "corpus")
        results += _corpus_reports(base, hostile.fuzz_cases(c["fuzz"], seed=7), "fuzz")
        results += _project_reports(base)
        results += _checkpoint_reports(base)
    handled = total = 0
    per: dict[str, list[int]] = {}
    problems: list[str] = []
    for rep, placed in results:
        t = max(rep.total, placed)  # cases set aside after hitting a known bug count as failures
        h = 0 if rep.general else rep.handled
        per.setdefault(rep.entry, [0, 0])
        per[rep.entry][0] += h
        per[rep.entry][1] += t
        handled += h
        total += t
        problems += rep.general[:2] + rep.problems()[:3]
        if t > rep.total and not rep.general:
            problems.append(f"{rep.entry}: {t - rep.total} inputs hit a known bug ({', '.join(sorted(set(ep.KNOWN.values())))})")
    value = handled / total if total else 0.0
    return _row("hostile_handled", round(value, 5), "fraction", "== 1.0", handled == total and total > 0,
                handled=handled, inputs=total, fuzzed_files=c["fuzz"],
                per_entry={k: f"{h}/{t}" for k, (h, t) in per.items()},
                seconds=round(time.perf_counter() - t0, 1), failures=problems[:8])


def _soak():
    """``bench/soak.py``: crash-recovery round trips and the memory soak (its own counts, quick or full)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import soak

    return soak


def bench_recovery_roundtrip(c) -> dict:
    soak = _soak()
    return soak.bench_recovery_roundtrip(soak.QUICK if c is QUICK else soak.FULL)


def bench_soak_rss_growth_mb(c) -> dict:
    soak = _soak()
    return soak.bench_soak_rss_growth_mb(soak.QUICK if c is QUICK else soak.FULL)


#: name -> function(counts) -> row. Add new rows here.
BENCHES: dict[str, Callable[[dict], dict]] = {
    "kill_survival_mask_save": bench_kill_survival_mask_save,
    "kill_survival_fix": bench_kill_survival_fix,
    "kill_survival_project_file": bench_kill_survival_project_file,
    "kill_survival_checkpoint": bench_kill_survival_checkpoint,
    "kill_survival_run_folder": bench_kill_survival_run_folder,
    "hostile_handled": bench_hostile_handled,
    "recovery_roundtrip": bench_recovery_roundtrip,
    "soak_rss_growth_mb": bench_soak_rss_growth_mb,
}


def run(only: list[str] | None = None, quick: bool | None = None) -> list[dict]:
    """The rows (``FCNSTUDIO_BENCH_QUICK=1`` or ``quick=True`` for small counts)."""
    from bench_cli import quick_requested, run_rows

    return run_rows(BENCHES, QUICK if quick_requested(quick) else FULL, "reliability", only)


def main(argv: list[str] | None = None) -> int:
    from bench_cli import main as bench_main

    return bench_main(run, BENCHES, "python bench/reliability.py", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
