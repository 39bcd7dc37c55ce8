"""Training soak: does a long training run on the sample keep its memory flat?

    python bench/training_soak.py            # 30 minutes (FCN_BENCH_SOAK_TRAIN_MINUTES to change)
    python bench/training_soak.py --quick    # 3 minutes (a smoke run)

``fcnstudio train SAMPLE --json-log --max-minutes M --seed 0`` runs in a child
process on the repaired sample (as in ``bench/training_cli.py``), with its
evaluations, previews and checkpoints every 15 s as usual. The bench reads the
child's resident memory (``VmRSS`` in ``/proc/PID/status``) whenever a step
event arrives (about 4 a second). The child may have moved on by then (into
an evaluation, say), so single samples swing with the evaluation cycle; the
row compares medians over a minute.

Row ``soak_train_rss_growth_mb`` (reported by ``bench/reliability.py``):

- value: the median RSS of the last minute minus the median RSS of the
  minute after the *baseline*, in MB; target <= 20 ("no memory growth beyond
  the first epoch", with room for allocator noise). A minute spans several
  evaluation cycles: RSS swings by some 25 MB within one (its buffers come and
  go), so medians over 20 steps (a first version of this row) depended on
  where in a cycle they fell (one 30-minute run read +36.6 MB that way while
  its per-minute medians were flat).
- baseline: the end of the first epoch by which two evaluations have run
  (each evaluation also writes ``last.pt``, and ``best.pt`` when it improves). An epoch of the sample is only a
  few steps, shorter than the first evaluation, so the literal first epoch
  would count the evaluation's own one-off buffers as growth; that number is
  given too (``growth_since_first_epoch_mb``), with the peak and the slope
  over the second half of the run (MB per hour).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _p in (str(REPO), str(REPO / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

FULL = {"train_minutes": 30.0}
QUICK = {"train_minutes": 3.0}
TARGET_MB = 20.0
#: seconds in each median: several evaluation cycles (one every 15 s), whose
#: buffers come and go, so the median does not depend on where in a cycle it falls
WINDOW_S = 60.0


def _row(name: str, value: float, unit: str, target: str, ok: bool, **detail) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **detail}


def _train_child(data: Path, minutes: float) -> subprocess.Popen:
    from training_cli import cli_command

    argv, env = cli_command(["train", str(data), "--json-log", "--max-minutes", f"{minutes:g}", "--seed", "0"])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def bench_soak_train_rss_growth_mb(c: dict) -> dict:
    from soak import proc_rss_mb
    from training_cli import repaired_sample

    minutes = float(os.environ.get("FCN_BENCH_SOAK_TRAIN_MINUTES", c.get("train_minutes", FULL["train_minutes"])))
    samples: list[tuple[int, int, float, float]] = []   # (step, epoch, seconds, rss)
    evals = 0
    baseline_at: int | None = None                      # index into samples
    first_epoch_end: int | None = None
    warnings: list[str] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fcn-soak-train-") as tmp:
        data = repaired_sample(Path(tmp) / "sample")
        proc = _train_child(data, minutes)
        watchdog = threading.Timer(60 * minutes + 300, proc.kill)  # a silent hang ends too
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                kind = e.get("event")
                if kind == "eval":
                    evals += 1
                elif kind == "warning":
                    warnings.append(e.get("code", "?"))
                elif kind == "step":
                    rss = proc_rss_mb(proc.pid)
                    if rss is None:
                        continue
                    epoch = int(e["epoch"])
                    if samples and epoch > samples[-1][1]:   # this step starts a new epoch
                        if first_epoch_end is None:
                            first_epoch_end = len(samples)
                        if baseline_at is None and evals >= 2:
                            baseline_at = len(samples)
                    samples.append((int(e["step"]), epoch, time.monotonic() - t0, rss))
            code = proc.wait(timeout=60)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    secs = np.array([s[2] for s in samples])
    if code != 0 or baseline_at is None or secs[-1] - secs[baseline_at] < 2 * WINDOW_S:
        return _row("soak_train_rss_growth_mb", float("nan"), "MB", f"<= {TARGET_MB:g}", False,
                    error=f"exit {code}, {len(samples)} step samples, {evals} evaluations: "
                          "too short a run to measure")
    rss = np.array([s[3] for s in samples])
    t0_base = secs[baseline_at]
    base = float(np.median(rss[(secs >= t0_base) & (secs < t0_base + WINDOW_S)]))
    end = float(np.median(rss[secs >= secs[-1] - WINDOW_S]))
    half = len(samples) // 2
    slope = float(np.polyfit(secs[half:] / 3600.0, rss[half:], 1)[0]) if len(samples) - half >= 2 else float("nan")
    first = float(np.median(rss[max(0, first_epoch_end - 3):first_epoch_end])) if first_epoch_end else float("nan")
    growth = end - base
    minutes_seen = (secs // 60).astype(int)
    per_minute = [round(float(np.median(rss[minutes_seen == m])), 1) for m in np.unique(minutes_seen)]
    return _row("soak_train_rss_growth_mb", round(growth, 1), "MB", f"<= {TARGET_MB:g}", growth <= TARGET_MB,
                minutes=minutes, steps=samples[-1][0], epochs=samples[-1][1] + 1, evals=evals, baseline_step=samples[baseline_at][0],
                rss_baseline_mb=round(base, 1), rss_end_mb=round(end, 1), rss_peak_mb=round(float(rss.max()), 1),
                growth_since_first_epoch_mb=round(end - first, 1),
                slope_second_half_mb_per_h=round(slope, 1), rss_per_minute_mb=per_minute,
                warnings=sorted(set(warnings)),
                seconds=round(time.monotonic() - t0, 1))


BENCHES = {"soak_train_rss_growth_mb": bench_soak_train_rss_growth_mb}


def run(only: list[str] | None = None, quick: bool | None = None) -> list[dict]:
    """The row (``FCNSTUDIO_BENCH_QUICK=1`` or ``quick=True`` for a 3-minute run)."""
    from bench_cli import quick_requested, run_rows

    return run_rows(BENCHES, QUICK if quick_requested(quick) else FULL, "training soak", only)


def main(argv: list[str] | None = None) -> int:
    from bench_cli import main as bench_main

    return bench_main(run, BENCHES, "python bench/training_soak.py", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
