"""The runs of a dataset: what ``<dataset>/.fcnstudio/runs/*`` holds, read as plain JSON (no torch, no Qt).

A run folder is one the trainer made (the CLI or the window): ``config.json``
(settings, classes, start time) and ``events.jsonl`` (one JSON event per line,
:mod:`fcnstudio.train.events`). :func:`list_runs` reads every run of a dataset
into a :class:`RunSummary`; a folder holding neither file is not a run and is
left out with a note; a line of ``events.jsonl`` that does not parse (a torn
last line of a killed writer) is skipped.

State, from the last events:

- ``failed``: an ``error`` event;
- ``finished`` / ``stopped``: a ``done`` event (its ``stopped`` flag);
- ``running``: no ``done``/``error`` yet and ``events.jsonl`` changed within
  :data:`RUNNING_S` seconds (a live trainer writes a step event at least every
  few seconds and a note around each evaluation);
- ``stopped`` otherwise: the process ended without a last event (killed,
  crashed machine); its ``last.pt`` resumes it.

Listing is fast: step lines (most of a log) are recognised by their prefix and
only the last one is parsed; the loss curve is read by :func:`read_curves` when
a run is shown.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from .state_dirs import runs_dir

__all__ = ["COLLAPSE_CODES", "RUNNING_S", "Curves", "RunList", "RunSummary", "list_runs", "read_curves", "read_run",
           "runs_dir", "standing_collapse"]

#: The monitor's collapse warnings (fcnstudio.train.monitor.COLLAPSE_CODES; a test keeps the two equal).
COLLAPSE_CODES = ("collapse-background", "collapse-single-class", "class-never-predicted")
#: a run without a last event whose log changed this recently is taken as running
RUNNING_S = 120.0
_STEP_PREFIX = '{"event":"step",'
SETTING_KEYS = ("loss", "class_weights", "arch", "input_scale", "lr", "batch_size", "crop_size", "width", "max_steps",
                "epochs", "max_minutes")


@dataclass
class RunSummary:
    """One run, as the Runs dock lists it."""

    name: str
    path: Path
    started: str = ""
    state: str = "stopped"
    config: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    steps: int = 0
    best_mean_iou: float = math.nan
    rare_class: str = ""
    rare_iou: float = math.nan
    warnings: list = field(default_factory=list)  # (code, message), first of each code
    resumed_from: str | None = None

    @property
    def loss(self) -> str:
        return str(self.config.get("loss", ""))

    @property
    def settings(self) -> dict:
        """The main settings (the Training form's fields) that were set."""
        return {k: self.config[k] for k in SETTING_KEYS if self.config.get(k) is not None}

    def checkpoint(self, name: str) -> Path | None:
        p = self.path / name
        return p if p.is_file() else None


@dataclass
class RunList:
    runs: list
    notes: list  # one line per folder left out


@dataclass
class Curves:
    """A run's curves: training loss per step, validation loss and per-class IoU per evaluation."""

    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    eval_steps: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    iou: list = field(default_factory=list)  # one list per evaluation, one value (or NaN) per class


def _lines(path: Path):
    """The lines of ``events.jsonl`` (none when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def _parse(line: str):
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _f(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def read_run(path: Path, now: float | None = None) -> RunSummary | None:
    """The summary of the run folder ``path``; None when it is not a run folder."""
    cfg_path, ev_path = path / "config.json", path / "events.jsonl"
    if not cfg_path.is_file() and not ev_path.is_file():
        return None
    run = RunSummary(path.name, path)
    info = _read_config(cfg_path)
    run.config = info.get("config") if isinstance(info.get("config"), dict) else {}
    run.classes = [str(c) for c in info.get("classes") or []]
    run.started = str(info.get("created") or "")
    run.resumed_from = info.get("resumed_from")
    last_step, best_eval, last_eval, end = None, None, None, None
    seen = set()
    for line in _lines(ev_path):
        if line.startswith(_STEP_PREFIX):
            last_step = line
            continue
        ev = _parse(line)
        if ev is None:
            continue
        kind = ev.get("event")
        if kind == "step":
            last_step = line
        elif kind == "eval":
            last_eval = ev
            if best_eval is None or _f(ev.get("mean_fg_iou")) > _f(best_eval.get("mean_fg_iou")):
                best_eval = ev
        elif kind == "warning" and ev.get("code") not in seen:
            seen.add(ev.get("code"))
            run.warnings.append((str(ev.get("code")), str(ev.get("message", ""))))
        elif kind in ("done", "error"):
            end = ev
    step = _parse(last_step) if last_step else None
    run.steps = int(step.get("step", 0)) if step else 0
    if end is not None and end.get("event") == "done":
        run.steps = max(run.steps, int(end.get("steps") or 0))
    _scores(run, best_eval, last_eval, end)
    run.state = _state(end, ev_path, time.time() if now is None else now)
    return run


def _read_config(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _scores(run: RunSummary, best_eval, last_eval, end) -> None:
    """Best mean foreground IoU; the rarest class (smallest true fraction) and its IoU in the best evaluation."""
    if best_eval is not None:
        run.best_mean_iou = _f(best_eval.get("mean_fg_iou"))
    if end is not None and end.get("event") == "done" and math.isfinite(_f(end.get("best_mean_iou"))):
        run.best_mean_iou = _f(end.get("best_mean_iou"))
    if last_eval is None:
        return
    frac = [_f(x) for x in last_eval.get("true_fraction") or []]
    present = [(f, c) for c, f in enumerate(frac) if math.isfinite(f) and f > 0]
    if not present:
        return
    c = min(present)[1]
    run.rare_class = run.classes[c] if c < len(run.classes) else f"class {c}"
    iou = (best_eval or last_eval).get("iou") or []
    run.rare_iou = _f(iou[c]) if c < len(iou) else math.nan


def _state(end, ev_path: Path, now: float) -> str:
    if end is not None:
        if end.get("event") == "error":
            return "failed"
        return "stopped" if end.get("stopped") else "finished"
    try:
        recent = now - ev_path.stat().st_mtime <= RUNNING_S
    except OSError:
        recent = False
    return "running" if recent else "stopped"


def list_runs(dataset_root: str | Path, now: float | None = None) -> RunList:
    """Every run of the dataset, newest first, and a note per folder that is not a run."""
    root = runs_dir(dataset_root)
    runs, notes = [], []
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    except OSError:
        return RunList([], [])
    for p in folders:
        run = read_run(p, now)
        if run is None:
            notes.append(f"{p.name}: not a run folder (no config.json or events.jsonl); left out")
        else:
            runs.append(run)
    return RunList(runs, notes)


def read_curves(path: Path) -> Curves:
    """The loss and per-class IoU curves of the run folder ``path`` (torn lines skipped)."""
    c = Curves()
    for line in _lines(path / "events.jsonl"):
        ev = _parse(line)
        if ev is None:
            continue
        kind = ev.get("event")
        if kind == "step":
            c.steps.append(int(ev.get("step", 0)))
            c.loss.append(_f(ev.get("loss")))
        elif kind == "eval":
            c.eval_steps.append(int(ev.get("step", 0)))
            c.val_loss.append(_f(ev.get("val_loss")))
            c.iou.append([_f(x) for x in ev.get("iou") or []])
    return c


def standing_collapse(events) -> tuple:
    """The collapse warnings still standing after ``events`` (event dicts, as in events.jsonl), oldest first.

    A warning stands from its ``warning`` event until a ``collapse-recovered``
    info event clears it (``clears`` = its code; a ``class-never-predicted``
    warning only for the classes that came back). Returns ``(code, classes)`` pairs.
    """
    active: list[tuple[str, tuple]] = []
    for ev in events:
        if not isinstance(ev, dict):
            continue
        code = ev.get("code")
        if ev.get("event") == "warning" and code in COLLAPSE_CODES:
            active.append((code, tuple(int(c) for c in ev.get("classes") or ())))
        elif ev.get("event") == "info" and code == "collapse-recovered":
            back = {int(c) for c in ev.get("classes") or ()}
            cleared = ev.get("clears")
            active = [(c, k) for c, k in active
                      if not (c == cleared and (c != "class-never-predicted" or back & set(k)))]
    return tuple(active)
