"""A label review in the window: does the window stay smooth while the fold models train and predict?

    python bench/review_gui.py [--json]        # FCN_BENCH_REVIEW_STEPS=60 steps per fold by default
    from bench.review_gui import run           # rows {"name", "value", "unit", "target", "ok"}

The real window (offscreen Qt) on the bundled sample (a copy, its two defects
repaired: :func:`bench.training_cli.repaired_sample`), with the Review dock
shown. A review starts from the dock (its Job, the Training dock's default
settings, :data:`FOLDS` folds of :data:`STEPS` steps: about a minute on one
core) while a 10 ms precise QTimer runs, as ``bench/training.py`` measures
``ui_lateness_p99_ms``: lateness = how much later than 10 ms after the
previous tick each tick fires, recorded from the first fold's first training
report to the end of the job (training, prediction, scoring, the review
opening in the dock).

- ``ui_lateness_review_p99_ms``: the 99th percentile (target <= 20 ms);
- ``ui_lateness_review_max_ms``: the worst tick (reference).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STEPS = int(os.environ.get("FCN_BENCH_REVIEW_STEPS", "60"))
FOLDS = 2
BENCHES = ("lateness",)


def review_lateness(window, steps: int) -> tuple[list[float], float]:
    """Ticks' lateness (ms) during a review started from the Review dock, and the review's seconds."""
    from PyQt6.QtCore import QEventLoop, QTimer

    from bench.training import Ticker

    c = window.review.controller
    window.review.settings.set_values(FOLDS, None, steps)
    ticker = Ticker()
    if not c.start():
        raise RuntimeError("the Review dock did not start a review")
    job, failed = c.job, []
    job.stage.connect(lambda p: setattr(ticker, "recording", ticker.recording or p.phase == "train"))
    job.failed.connect(failed.append)
    loop = QEventLoop()
    job.finished.connect(loop.quit)
    QTimer.singleShot(1800 * 1000, loop.quit)
    t0 = time.perf_counter()
    ticker.start()
    loop.exec()
    ticker.stop()
    seconds = time.perf_counter() - t0
    if failed or c.job is not None or c.queue is None:
        raise RuntimeError(f"the review did not finish: {failed[:1] or window.review.status.text()}")
    return ticker.late_ms, seconds


def run(only=None, quick: bool = False) -> list[dict]:
    from bench.training import _pcts, _row, idle_lateness, sample_window

    steps = 10 if quick else STEPS
    with tempfile.TemporaryDirectory(prefix="fcn-bench-review-gui-") as tmp:
        app, window, _ = sample_window(Path(tmp))
        window.review_dock.dock.raise_()
        idle_lateness(1.0)  # let the window settle
        try:
            late, seconds = review_lateness(window, steps)
        finally:
            window.review.controller.shutdown()
            window.close()
            app.processEvents()
    med, p99, mx = _pcts(late)
    print(f"review: lateness median {med:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms ({len(late)} ticks, "
          f"{seconds:.0f} s, {FOLDS} folds x {steps} steps)", file=sys.stderr)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        _row("ui_lateness_review_p99_ms", round(p99, 2), "ms", "<= 20", p99 <= 20, median_ms=round(med, 2),
             ticks=len(late), review_s=round(seconds, 1), folds=FOLDS, steps_per_fold=steps, cores=cores),
        _row("ui_lateness_review_max_ms", round(mx, 2), "ms", "reference", True),
    ]


def main(argv: list[str] | None = None) -> int:
    from bench_cli import main as bench_main

    return bench_main(run, BENCHES, "python bench/review_gui.py", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
