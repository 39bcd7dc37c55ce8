"""Training in the window: does the GUI slow the run down, and does the window stay smooth?

    python bench/training.py [--quick] [--only throughput|lateness] [--json]
    from bench.training import run     # rows {"name", "value", "unit", "target", "ok"}

Data: the bundled sample, copied to a temp folder with its two defects
repaired (:func:`bench.training_cli.repaired_sample`). Settings: the defaults
(Dice + CE, 128-px crops, batch 8, width 16, depth 4, all cores but one for
torch) for :data:`STEPS` steps, an evaluation with previews every
:data:`EVAL_EVERY` steps, seed 0.

- ``train_worker_vs_script``: steps per second of the same run (a) in the
  Training dock of the real window (offscreen Qt, the dock shown, live loss
  curve, class table and previews), through the QThread worker, over (b) a
  bare ``Trainer(...).run()`` in a plain Python thread of the same process
  (no Qt involved), so that only the GUI differs: a thread's malloc arena
  behaves differently from the main thread's (in a micro-benchmark of one
  conv forward/backward the main thread took ~9x the page faults and ~1.5x
  the time; in full runs the difference is within the noise of a shared
  machine).
  One main-thread run is reported for reference (``script_main_thread``). Steps
  per second come from the trainer's own clock (``elapsed_s`` of the last
  StepEvent: the loop, evaluations included, pre-flight and loading excluded).
  The two alternate (script, GUI, GUI, script, …), :data:`REPEATS` times
  each; the best of each counts (on a shared machine the load of other
  processes moves a single run by ±30 %).
- ``ui_lateness_p99_ms`` / ``ui_lateness_max_ms``: a 10 ms precise QTimer
  runs during run (a), from its first step to its end; lateness = how much
  later than 10 ms after the previous tick each tick fires. ``ui_idle_*`` is
  the same timer for 3 s with nothing running (the baseline, for reference).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STEPS = int(os.environ.get("FCN_BENCH_GUI_STEPS", "50"))
EVAL_EVERY = 15
REPEATS = 3
TICK_MS = 10
#: --only choices: the throughput ratio (needs the script runs too) and the event-loop lateness
BENCHES = ("throughput", "lateness")


def _row(name, value, unit, target, ok, **extra) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **extra}


def _config(out_dir: Path, steps: int) -> dict:
    return {"max_steps": steps, "eval_every_steps": EVAL_EVERY, "eval_every_s": 1e9, "seed": 0,
            "out_dir": str(out_dir)}


def _steps_per_s(steps: list) -> float:
    last = steps[-1]
    return last.step / last.elapsed_s


def script_run(data: Path, out_dir: Path, n: int = STEPS, main_thread: bool = False) -> float:
    """Steps per second of a bare ``Trainer.run()``: in a plain Python thread, or in the main thread."""
    import threading

    from fcnstudio.train.events import StepEvent
    from fcnstudio.train.trainer import TrainConfig, Trainer

    steps, out = [], []
    trainer = Trainer(data, TrainConfig(**_config(out_dir, n)),
                      callback=lambda e: steps.append(e) if isinstance(e, StepEvent) else None)
    if main_thread:
        out.append(trainer.run())
    else:
        t = threading.Thread(target=lambda: out.append(trainer.run()), name="bench-script")
        t.start()
        t.join()
    done = out[0] if out else None
    if getattr(done, "steps", 0) != n:
        raise RuntimeError(f"the script run did not finish: {done}")
    return _steps_per_s(steps)


class Ticker:
    """A 10 ms precise timer that records how late each tick fires."""

    def __init__(self) -> None:
        from PyQt6.QtCore import Qt, QTimer

        self.late_ms: list[float] = []
        self.recording = False
        self._last = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.recording and self._last is not None:
            self.late_ms.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now

    def start(self) -> None:
        self._last = None
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def _pcts(late: list[float]) -> tuple[float, float, float]:
    s = sorted(late)
    if not s:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(s), s[min(len(s) - 1, int(0.99 * len(s)))], s[-1]


def gui_run(window, app, data: Path, out_dir: Path, n: int = STEPS) -> tuple[float, list[float]]:
    from PyQt6.QtCore import QEventLoop, QTimer

    panel = window.training
    panel.overrides = _config(out_dir, n)
    ticker = Ticker()
    steps, problems = [], []
    if not panel.start():
        raise RuntimeError("the panel did not start")
    worker = panel.worker

    def on_step(ev) -> None:
        steps.append(ev)
        ticker.recording = ev.step < n  # from the first step to the last

    worker.step.connect(on_step)
    worker.refused.connect(problems.append)
    worker.failed.connect(problems.append)
    loop = QEventLoop()
    worker.finished.connect(loop.quit)
    QTimer.singleShot(1800 * 1000, loop.quit)
    ticker.start()
    loop.exec()
    ticker.stop()
    app.processEvents()
    if problems or not steps or steps[-1].step != n or panel.busy:
        raise RuntimeError(f"the GUI run did not finish: {problems[:1]}")
    if not panel.grid.previews or panel.plot.point_count == 0:
        raise RuntimeError("the GUI run showed no previews or no loss curve")
    return _steps_per_s(steps), ticker.late_ms


def idle_lateness(seconds: float = 3.0) -> list[float]:
    from PyQt6.QtCore import QEventLoop, QTimer

    ticker = Ticker()
    ticker.recording = True
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    ticker.start()
    loop.exec()
    ticker.stop()
    return ticker.late_ms


def sample_window(tmp: Path):
    """``(app, window, data)``: the real window, shown, on a repaired copy of the sample in ``tmp`` (settings there too)."""
    from bench.training_cli import repaired_sample

    os.environ["FCNSTUDIO_SETTINGS"] = str(tmp / "settings.ini")
    from fcnstudio.gui.app import create_app
    from fcnstudio.gui.main_window import MainWindow

    data = repaired_sample(tmp / "sample")
    app = create_app()
    window = MainWindow()
    window.resize(1500, 950)
    window.open_dataset(data)
    window.show()
    return app, window, data


def run(only=None, quick: bool = False) -> list[dict]:
    only = set(only or BENCHES)
    n, repeats = (20, 1) if quick else (STEPS, REPEATS)
    with tempfile.TemporaryDirectory(prefix="fcn-bench-gui-") as tmp:
        tmp = Path(tmp)
        from fcnstudio.gui.training_panel import TrainingPanel

        app, window, data = sample_window(tmp)
        TrainingPanel.ask_stop = lambda self: True
        window.training.plot.ensure_plot()  # built lazily after the window shows; not part of the idle baseline
        idle_lateness(1.0)  # let the window settle
        idle = idle_lateness()
        script_rates, gui_rates, late = [], [], []
        try:
            script_run(data, tmp / "warmup", n)  # imports torch, fills the pre-flight cache
            main_rate = script_run(data, tmp / "main", n, main_thread=True) if "throughput" in only else None
            for i in range(repeats):  # alternating (script, gui), (gui, script), ... so drifting load evens out
                order = ("script", "gui") if i % 2 == 0 else ("gui", "script")
                for kind in order:
                    if kind == "script" and "throughput" in only:
                        script_rates.append(script_run(data, tmp / f"script{i}", n))
                    elif kind == "gui":
                        rate, lat = gui_run(window, app, data, tmp / f"gui{i}", n)
                        gui_rates.append(rate)
                        late += lat
        finally:
            window.training.shutdown()
            window.close()
            app.processEvents()
    i_med, i_p99, i_max = _pcts(idle)
    med, p99, mx = _pcts(late)
    print(f"idle baseline: lateness median {i_med:.2f} ms, p99 {i_p99:.2f} ms, max {i_max:.2f} ms "
          f"({len(idle)} ticks)", file=sys.stderr)
    print(f"training:      lateness median {med:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms ({len(late)} ticks); "
          f"steps/s script {script_rates} gui {gui_rates}", file=sys.stderr)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []
    if "throughput" in only:
        ratio = max(gui_rates) / max(script_rates)
        rows.append(_row("train_worker_vs_script", round(ratio, 3), "ratio", ">= 0.9", ratio >= 0.9,
                         gui_steps_per_s=[round(r, 3) for r in gui_rates],
                         script_steps_per_s=[round(r, 3) for r in script_rates],
                         script_main_thread_steps_per_s=round(main_rate, 3), steps=n, cores=cores))
    if "lateness" in only:
        rows += [
            _row("ui_lateness_p99_ms", round(p99, 2), "ms", "<= 20", p99 <= 20, median_ms=round(med, 2),
                 ticks=len(late), idle_p99_ms=round(i_p99, 2), cores=cores),
            _row("ui_lateness_max_ms", round(mx, 2), "ms", "<= 150", mx <= 150, idle_max_ms=round(i_max, 2)),
            _row("ui_idle_lateness_p99_ms", round(i_p99, 2), "ms", "reference (nothing running)", True,
                 idle_median_ms=round(i_med, 2), idle_max_ms=round(i_max, 2)),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    from bench_cli import main as bench_main

    return bench_main(run, BENCHES, "python bench/training.py", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
