"""Runs dock benchmark: the time to list 200 runs in the dock.

``runs_dock_list_200_s``: :meth:`RunsPanel.refresh` (read every run folder's
config.json and events.jsonl, fill the table) on 200 generated run folders of
a dataset, each with a realistic ``events.jsonl`` (400 step lines, an eval of
5 classes every 20 steps, a few notes, a done line: ~420 lines, ~75 kB) —
the median of 3 refreshes, offscreen Qt. Run alone with ``python bench/runs.py``.
"""

from __future__ import annotations

import json
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

import numpy as np  # noqa: E402

RUNS, STEPS, EVAL_EVERY, CLASSES = 200, 400, 20, 5


def _run_folder(d: Path, seed: int) -> None:
    from fcnstudio.train.events import DoneEvent, EvalEvent, InfoEvent, StepEvent, WarningEvent, to_json_line

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    cfg = {"loss": "dice+ce", "lr": float(rng.choice([1e-3, 3e-4])), "batch_size": 8, "crop_size": 256,
           "width": 16, "max_steps": STEPS, "epochs": None, "max_minutes": None, "class_weights": None}
    (d / "config.json").write_text(json.dumps({"config": cfg, "classes": [f"c{i}" for i in range(CLASSES)],
                                               "created": "2026-12-02T10:00:00", "resumed_from": None}, indent=2))
    lines = [InfoEvent(0, "device", "cpu"), InfoEvent(0, "data", "40 train, 10 validation")]
    for s in range(1, STEPS + 1):
        lines.append(StepEvent(s, s // 40, float(2 / s + rng.random() * 0.1), 1e-3, 12.3, s * 0.3, (STEPS - s) * 0.3))
        if s % EVAL_EVERY == 0:
            iou = tuple(rng.random(CLASSES))
            frac = tuple(rng.dirichlet(np.ones(CLASSES)))
            lines.append(EvalEvent(s, 0.5, iou, iou, frac, frac, tuple(rng.random(CLASSES)),
                                   prob_spread=tuple(rng.random(CLASSES))))
    lines.append(WarningEvent(100, "loss-plateau", "warning", "the loss has not improved for 100 steps"))
    lines.append(DoneEvent(str(d / "best.pt"), 0.4, str(d / "last.pt"), STEPS, False))
    (d / "events.jsonl").write_text("".join(to_json_line(e) + "\n" for e in lines))


def _dataset(root: Path) -> None:
    import cv2

    from fcnstudio.core.io import write_mask

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    m = np.zeros((32, 32), np.uint8)
    m[8:16, 8:16] = 1
    cv2.imwrite(str(root / "images" / "a.png"), m * 100)
    write_mask(root / "masks" / "a.png", m, [(0, 0, 0), (255, 0, 0)])


def run() -> list[dict]:
    from PyQt6.QtWidgets import QApplication

    from fcnstudio.core.session import EditSession
    from fcnstudio.gui.runs_panel import RunsPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="fcnbench-runs-") as tmp:
        root = Path(tmp) / "ds"
        _dataset(root)
        for i in range(RUNS):
            _run_folder(root / ".fcnstudio" / "runs" / f"20261202-{i:06d}", i)
        session = EditSession()
        session.open(str(root))
        panel = RunsPanel(session)
        panel.show()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            panel.refresh()
            app.processEvents()
            times.append(time.perf_counter() - t0)
        assert panel.table.rowCount() == RUNS
        panel.close()
        session.shutdown()
    value = statistics.median(times)
    return [{"name": "runs_dock_list_200_s", "value": round(value, 3), "unit": "s", "target": "<= 0.5",
             "ok": value <= 0.5}]


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:28s} {r['value']:>10.3f} {r['unit']:3s} target {r['target']:8s} "
              f"{'ok' if r['ok'] else 'OVER'}")
