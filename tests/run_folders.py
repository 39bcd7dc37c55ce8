"""Run folders written the way the trainer writes them (config.json + events.jsonl), for the Runs tests."""

from __future__ import annotations

import json
from pathlib import Path

from fcnstudio.train.events import DoneEvent, ErrorEvent, EvalEvent, StepEvent, WarningEvent, to_json_line

CLASSES = ["background", "cell", "spot"]


def make_run(runs: Path, name: str, *, end: str | None = "done", steps: int = 20, lr: float = 1e-3,
             warning: str | None = None, torn: bool = False, classes=CLASSES, loss: str = "dice+ce") -> Path:
    """A run folder ``runs/name``: ``end`` "done", "stopped", "error" or None (no last event)."""
    d = runs / name
    d.mkdir(parents=True)
    cfg = {"loss": loss, "lr": lr, "batch_size": 4, "crop_size": 64, "width": 8, "max_steps": steps,
           "epochs": None, "max_minutes": None, "class_weights": None, "out_dir": None, "resume": None}
    (d / "config.json").write_text(json.dumps({"config": cfg, "classes": classes, "created": "2026-12-02T10:00:00",
                                               "resumed_from": None}))
    events = []
    for s in range(1, steps + 1):
        events.append(StepEvent(s, 0, 2.0 / s, lr, 10.0, s * 0.1, None))
        if s % 10 == 0:
            k = s / steps
            events.append(EvalEvent(s, 1.0 / s, (0.9, 0.5 * k, 0.2 * k), (0.9, 0.6, 0.3), (0.9, 0.08, 0.02),
                                    (0.9, 0.08, 0.02), (1.0, 0.9, 0.8)))
    if warning:
        events.append(WarningEvent(5, warning, "warning", f"{warning} seen"))
    if end in ("done", "stopped"):
        events.append(DoneEvent(str(d / "best.pt"), 0.35, str(d / "last.pt"), steps, end == "stopped"))
    elif end == "error":
        events.append(ErrorEvent("out of disk"))
    text = "".join(to_json_line(e) + "\n" for e in events)
    if torn:
        text += '{"event":"eval","step":99,"iou":[0.1,'
    (d / "events.jsonl").write_text(text)
    return d
