"""``fcnstudio train DATASET``: the trainer on a terminal.

Set ``FCNSTUDIO_DEBUG=1`` to also get the traceback of a failed run on
stderr (it is always in the ErrorEvent's ``detail`` in ``events.jsonl``).

With ``--json-log`` stdout carries one JSON object per line — exactly the
events the GUI shows (:func:`fcnstudio.train.events.to_json_line`) — and
nothing else. Without it, a few human lines go to stderr. Exit codes: 0 the
run ended (budget reached or Ctrl-C), 1 training failed, 2 the run was refused
before the first step (usage, pre-flight label errors such as ``binary-255``,
unreadable data, a bad checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

from ..cli import UsageError
from .predict import say


def _config(args):
    from ..train.config import ConfigError, TrainConfig, available_cores

    kw = {}
    for arg, field in (("loss", "loss"), ("model", "arch"), ("epochs", "epochs"), ("max_minutes", "max_minutes"),
                       ("max_steps", "max_steps"), ("lr", "lr"), ("batch", "batch_size"), ("crop", "crop_size"),
                       ("width", "width"), ("depth", "depth"), ("eval_every", "eval_every_steps"),
                       ("seed", "seed"), ("device", "device"), ("out", "out_dir"), ("resume", "resume"),
                       ("class_weights", "class_weights"), ("precision", "precision"), ("threads", "num_threads"),
                       ("channels_last", "channels_last")):
        v = getattr(args, arg, None)
        if v is not None:
            kw[field] = v
    scale = getattr(args, "input_scale", None)
    if scale is not None and scale != "auto":
        try:
            kw["input_scale"] = float(scale)
        except ValueError:
            raise UsageError("--input-scale takes 'auto' or a number from 0.05 to 1") from None
    # a terminal run has no window to keep responsive: every core trains (the window leaves one free)
    kw.setdefault("num_threads", available_cores())
    if kw.get("class_weights") not in (None, "auto", "none"):
        try:
            kw["class_weights"] = [float(x) for x in str(kw["class_weights"]).split(",")]
        except ValueError:
            raise UsageError("--class-weights takes 'auto', 'none' or numbers separated by commas") from None
    elif kw.get("class_weights") == "none":
        kw["class_weights"] = None
    if (args.epochs is not None or args.max_minutes is not None) and args.max_steps is None:
        kw["max_steps"] = None  # the budget given replaces the default step budget
    if getattr(args, "skip_check", False):
        kw["preflight"] = False
    try:
        return TrainConfig(**kw)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


class _JsonPrinter:
    def __init__(self, out=None):
        self.out = out or sys.stdout

    def __call__(self, event) -> None:
        from ..train.events import to_json_line

        self.out.write(to_json_line(event) + "\n")
        self.out.flush()


def _fmt_time(s) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _HumanPrinter:
    """Terse progress on stderr: a step line every couple of seconds, every eval, warning and the end."""

    def __init__(self, class_names=None, err=None):
        self.err = err or sys.stderr
        self.names = class_names
        self._last = 0.0

    def _p(self, text: str) -> None:
        say(text, self.err)

    def __call__(self, ev) -> None:
        from ..train import events as E

        if isinstance(ev, E.StepEvent):
            now = time.monotonic()
            if now - self._last < 2.0:
                return
            self._last = now
            self._p(f"step {ev.step:>6}  epoch {ev.epoch:>4}  loss {ev.loss:.4f}  lr {ev.lr:.2g}  "
                    f"{ev.images_per_s:.1f} img/s  elapsed {_fmt_time(ev.elapsed_s)}  eta {_fmt_time(ev.eta_s)}")
        elif isinstance(ev, E.EvalEvent):
            names = self.names or [f"class {i}" for i in range(ev.num_classes)]
            cls = "  ".join(
                f"{n}: IoU {iou:.2f} ({100 * p:.2f} % pred / {100 * t:.2f} % true)"
                if math.isfinite(iou) else f"{n}: absent"
                for n, iou, p, t in zip(names, ev.iou, ev.pred_fraction, ev.true_fraction))
            self._p(f"eval @ {ev.step}: val loss {ev.val_loss:.4f}  mean fg IoU {ev.mean_fg_iou:.3f}\n  {cls}")
        elif isinstance(ev, E.WarningEvent):
            tag = "WARNING" if ev.severity == "warning" else "info"
            self._p(f"{tag} {ev.code}: {ev.message}")
            if ev.diagnosis:
                self._p(f"  {ev.diagnosis}")
            for s in ev.suggestions:
                self._p(f"  try: {s.label}  {json.dumps(dict(s.action))}")
        elif isinstance(ev, E.InfoEvent):
            self._p(ev.message)
        elif isinstance(ev, E.DoneEvent):
            how = "stopped" if ev.stopped else "done"
            iou = f"{ev.best_mean_iou:.3f}" if math.isfinite(ev.best_mean_iou) else "n/a"
            self._p(f"{how} after {ev.steps} steps; best mean foreground IoU {iou}\n"
                    f"  best: {ev.best_checkpoint}\n  last: {ev.last_checkpoint}")
        elif isinstance(ev, E.ErrorEvent):
            self._p(f"error: {ev.message}")


def run(args) -> int:
    from ..train.events import DoneEvent, ErrorEvent, to_json_line
    from ..train.trainer import REFUSALS, Trainer

    config = _config(args)
    printer = _JsonPrinter() if args.json_log else _HumanPrinter()
    trainer = Trainer(args.dataset, config, callback=printer)
    if not args.json_log and config.preflight:
        print("checking the labels before training …", file=sys.stderr, flush=True)
    try:
        trainer.prepare()
    except REFUSALS as exc:
        if args.json_log:
            d = ErrorEvent(message=str(exc)).to_json()
            codes = getattr(exc, "codes", None)
            if codes:
                d["codes"] = list(codes)
            sys.stdout.write(json.dumps(d, allow_nan=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        raise UsageError(str(exc)) from None
    except Exception as exc:  # anything else at start-up is a training error (exit 1)
        if args.json_log:
            sys.stdout.write(to_json_line(ErrorEvent(message=f"{type(exc).__name__}: {exc}")) + "\n")
        say(f"fcnstudio train: {type(exc).__name__}: {exc}", sys.stderr)
        return 1
    if isinstance(printer, _HumanPrinter):
        printer.names = trainer.project.class_names
        say(f"run folder: {trainer.run_dir}", sys.stderr)

    def on_sigint(signum, frame):
        print("stopping (Ctrl-C again to abort) …", file=sys.stderr, flush=True)
        trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        old = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        old = None
    try:
        result = trainer.run()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if isinstance(result, DoneEvent):
        return 0
    if isinstance(result, ErrorEvent) and result.detail and os.environ.get("FCNSTUDIO_DEBUG"):
        say(result.detail, sys.stderr)  # the traceback, for bug reports only
    return 1
