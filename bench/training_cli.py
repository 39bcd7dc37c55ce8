"""Training through the CLI on the bundled sample: does the product's key claim hold?

    python bench/training_cli.py            # prints a table; FCN_BENCH_TRAIN_MINUTES=3 by default

The claim: on an imbalanced dataset (the sample's "spot" class is ~0.3 % of
the pixels), plain cross-entropy collapses and FCN Studio says so within a few
CPU minutes, while the defaults learn the rare class in the same budget.

Setup: the bundled sample is copied to a temp folder and its two deliberate
defects are repaired the way a user would (cells_07: the binary-255 fix,
255 → class 1; cells_12: the mask transposed back). Each run is
``fcnstudio train COPY --json-log --max-minutes M [--loss ce]`` in a child
process, read back line by line from stdout.

Rows (``run() -> list[dict]``):

- ``sample_raw_refused``: the unrepaired sample is refused before the first
  step (exit 2, ``binary-255`` on stderr and in the JSON error line).
- ``sample_ce_collapse_warned``: a collapse warning (collapse-background,
  collapse-single-class or class-never-predicted) during the ``--loss ce`` run.
- ``sample_ce_rare_iou``: the rare class's IoU at the end of that run (for reference).
- ``sample_default_rare_iou``: the rare class's IoU at the last evaluation of the default run.
- ``sample_default_collapse_warned``: a collapse warning still standing at the
  end of the default run (one that a ``collapse-recovered`` cleared does not count).
- ``sample_default_steps``: steps the default run made in the budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COLLAPSE = ("collapse-background", "collapse-single-class", "class-never-predicted")
RARE_IOU_TARGET = 0.2


def _minutes() -> float:
    return float(os.environ.get("FCN_BENCH_TRAIN_MINUTES", "3"))


def repaired_sample(dest: Path) -> Path:
    """The bundled sample copied to ``dest`` with its two defects repaired."""
    import numpy as np

    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.io import read_mask, write_mask
    from fcnstudio.core.labels import load_project
    from fcnstudio.core.resources import copy_sample

    root = copy_sample(dest)
    colors = load_project(open_dataset(root)).colors
    m = read_mask(root / "masks" / "cells_07.png")          # 0/255 → 0/1 (the binary-255 fix)
    write_mask(root / "masks" / "cells_07.png", (m > 0).astype(np.uint8), colors)
    m = read_mask(root / "masks" / "cells_12.png")          # transposed → as the image
    write_mask(root / "masks" / "cells_12.png", np.ascontiguousarray(m.T), colors)
    return root


def cli_command(args: list[str]) -> tuple[list[str], dict]:
    """``(argv, env)`` that run ``fcnstudio ARGS`` from this checkout in a child process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # not `python -m fcnstudio.cli`: that loads cli.py twice (as __main__ and as fcnstudio.cli)
    code = "import sys; from fcnstudio.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *args], env


def _cli(args: list[str], timeout: float) -> tuple[int, list[dict], str]:
    argv, env = cli_command(args)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, events, proc.stderr


def summarise(events: list[dict]) -> dict:
    """Collapse warnings raised / standing at the end, last eval, steps."""
    active: set[str] = set()
    warned: list[tuple[int, str]] = []
    evals = [e for e in events if e["event"] == "eval"]
    for e in events:
        if e["event"] == "warning" and e["code"] in COLLAPSE:
            warned.append((e["step"], e["code"]))
            active.add(e["code"])
        elif e["event"] == "info" and e.get("clears"):
            active.discard(e["clears"])
    last = evals[-1] if evals else None
    rare = None
    if last is not None:
        fg = [(t, c) for c, t in enumerate(last["true_fraction"]) if c > 0 and t]
        rare = min(fg)[1] if fg else None
    done = next((e for e in events if e["event"] == "done"), None)
    return {
        "warned": warned,
        "standing": sorted(active),
        "rare_class": rare,
        "rare_iou": (last["iou"][rare] or 0.0) if last is not None and rare is not None else 0.0,
        "best_rare_iou": max(((e["iou"][rare] or 0.0) for e in evals), default=0.0) if rare is not None else 0.0,
        "last_eval": last,
        "steps": done["steps"] if done else (events[-1].get("step", 0) if events else 0),
        "evals": len(evals),
        "all_warnings": [(e["step"], e["code"]) for e in events if e["event"] == "warning"],
    }


def _row(name, value, unit, target, ok, **extra) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **extra}


def run() -> list[dict]:
    from fcnstudio.core.resources import sample_dataset

    minutes = _minutes()
    timeout = 60 * minutes + 300
    rows = []
    with tempfile.TemporaryDirectory(prefix="fcn-bench-train-") as tmp:
        tmp = Path(tmp)
        # 1. the raw sample is refused before the first step
        import shutil
        raw = tmp / "raw"
        shutil.copytree(sample_dataset(), raw)
        t = time.monotonic()
        code, events, err = _cli(["train", str(raw), "--json-log", "--max-steps", "1"], 300)
        refused = code == 2 and "binary-255" in err and any(
            e["event"] == "error" and "binary-255" in e["message"] for e in events) and \
            not any(e["event"] == "step" for e in events)
        rows.append(_row("sample_raw_refused", int(refused), "1/0", "1 (exit 2, binary-255 named)", refused,
                         seconds=round(time.monotonic() - t, 1)))

        data = repaired_sample(tmp / "sample")
        # 2. plain CE: the monitor must say the output collapsed
        code, events, err = _cli(["train", str(data), "--json-log", "--max-minutes", str(minutes),
                                  "--loss", "ce", "--seed", "0"], timeout)
        s = summarise(events)
        warned = int(bool(s["warned"]) and code == 0)
        first = s["warned"][0] if s["warned"] else None
        rows.append(_row("sample_ce_collapse_warned", warned, "1/0", f"1 within {minutes:g} min", warned == 1,
                         first_warning=first, steps=s["steps"], exit_code=code, all_warnings=s["all_warnings"]))
        rows.append(_row("sample_ce_rare_iou", round(s["rare_iou"], 3), "IoU", "reference (plain CE)", True))

        # 3. defaults: the rare class is learned, no collapse left standing
        code, events, err = _cli(["train", str(data), "--json-log", "--max-minutes", str(minutes),
                                  "--seed", "0"], timeout)
        s = summarise(events)
        ok_run = code == 0
        rows.append(_row("sample_default_rare_iou", round(s["rare_iou"], 3), "IoU",
                         f">= {RARE_IOU_TARGET} after {minutes:g} min", ok_run and s["rare_iou"] >= RARE_IOU_TARGET,
                         best=round(s["best_rare_iou"], 3), exit_code=code,
                         ious=s["last_eval"]["iou"] if s["last_eval"] else None))
        standing = int(bool(s["standing"]))
        rows.append(_row("sample_default_collapse_warned", standing, "1/0", "0 standing at the end",
                         ok_run and standing == 0, warned=s["warned"], standing_codes=s["standing"],
                         all_warnings=s["all_warnings"]))
        rows.append(_row("sample_default_steps", s["steps"], "steps", f"reference ({minutes:g} min)", ok_run,
                         evals=s["evals"]))
    return rows


def main() -> int:
    rows = run()
    for r in rows:
        extra = {k: v for k, v in r.items() if k not in ("name", "value", "unit", "target", "ok")}
        print(f"{'ok ' if r['ok'] else 'MISS'} {r['name']:<34} {r['value']!s:>8} {r['unit']:<6} "
              f"target {r['target']}  {json.dumps(extra) if extra else ''}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
