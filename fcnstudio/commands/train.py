"""``fcnstudio train DATASET``: the trainer on a terminal.

Set ``FCNSTUDIO_DEBUG=1`` to also get the traceback of a failed run on
stderr (it is always in the ErrorEvent's ``detail`` in ``events.jsonl``).

With ``--json-log`` stdout carries one JSON object per line — exactly the
events the GUI shows (:func:`fcnstudio.train.events.to_json_line`) — and
nothing else. Without it, a few human lines go to stderr. Exit codes: 0 the
run ended (budget reached or Ctrl-C), 1 training failed, 2 the run was refused
before the first step (usage, pre-flight label errors such as ``binary-255``,
unreadable data, a bad checkpoint).

Under ``torchrun --nproc-per-node N -m fcnstudio train …`` the processes
train one run together (:mod:`fcnstudio.train.distributed`): process 0 prints
as above; the others print only an error of their own that process 0 could
not report. SIGINT and SIGTERM stop every process at the next step.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
                       ("width", "width"), ("depth", "depth"), ("norm", "norm"), ("eval_every", "eval_every_steps"),
                       ("seed", "seed"), ("device", "device"), ("out", "out_dir"), ("resume", "resume"),
                       ("class_weights", "class_weights"), ("precision", "precision"), ("threads", "num_threads"), ("flips", "flips"),
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
    from ..train import distributed
    from ..train.config import ConfigError

    config = _config(args)
    try:
        group = distributed.start(config.device)  # None unless started by torchrun with several processes
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if group is not None and getattr(args, "threads", None) is None:  # this machine's cores, shared out
        config = dataclasses.replace(config, num_threads=group.threads())
    try:
        return _train(args, config, group)
    finally:
        if group is not None:
            # the run is over; a process that ends just after another one gets torchrun's SIGTERM: ignored
            # (a Python handler would be reset while the interpreter shuts down)
            for n in (signal.SIGINT, signal.SIGTERM):
                signal.signal(n, signal.SIG_IGN)
            group.close()


def _train(args, config, group) -> int:
    from ..train.events import DoneEvent, ErrorEvent, to_json_line
    from ..train.trainer import REFUSALS, Trainer

    main = group is None or group.is_main  # only process 0 of a distributed run prints
    printer = (_JsonPrinter() if args.json_log else _HumanPrinter()) if main else None
    trainer = Trainer(args.dataset, config, callback=printer, dist=group)
    if main and not args.json_log and config.preflight:
        print("checking the labels before training …", file=sys.stderr, flush=True)
    try:
        trainer.prepare()
    except REFUSALS as exc:
        if not main:
            return _other_process_error(group, str(exc), 2)
        if args.json_log:
            d = ErrorEvent(message=str(exc)).to_json()
            codes = getattr(exc, "codes", None)
            if codes:
                d["codes"] = list(codes)
            sys.stdout.write(json.dumps(d, allow_nan=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        raise UsageError(str(exc)) from None
    except Exception as exc:  # anything else at start-up is a training error (exit 1)
        if not main:
            return _other_process_error(group, f"{type(exc).__name__}: {exc}", 1)
        if args.json_log:
            sys.stdout.write(to_json_line(ErrorEvent(message=f"{type(exc).__name__}: {exc}")) + "\n")
        say(f"fcnstudio train: {type(exc).__name__}: {exc}", sys.stderr)
        return 1
    if isinstance(printer, _HumanPrinter):
        printer.names = trainer.project.class_names
        say(f"run folder: {trainer.run_dir}", sys.stderr)
    with _stop_on_signals(trainer, group, main):
        result = trainer.run()
    if isinstance(result, DoneEvent):
        return 0
    if not main:
        return _other_process_error(group, result.message, 1)
    if isinstance(result, ErrorEvent) and result.detail and os.environ.get("FCNSTUDIO_DEBUG"):
        say(result.detail, sys.stderr)  # the traceback, for bug reports only
    return 1


def _other_process_error(group, message: str, code: int) -> int:
    """A process other than 0 prints its own error on stderr unless process 0 reports it (or it is another's)."""
    if not (group.handed_over or group.told):
        say(f"fcnstudio train ({group.describe()}): {message}", sys.stderr)
    return code


@contextlib.contextmanager
def _stop_on_signals(trainer, group, main: bool):
    """Ctrl-C asks the run to stop (it writes last.pt); a second Ctrl-C aborts. Under torchrun, SIGINT and
    SIGTERM both ask every process to stop (torchrun passes a Ctrl-C on, and ends its processes with
    SIGTERM), and a repeat does not abort: the processes stop together at the next step."""
    def on_signal(signum, frame):
        if main and not trainer.stop_requested:
            print("stopping (Ctrl-C again to abort) …" if group is None else "stopping …", file=sys.stderr,
                  flush=True)
        trainer.stop()
        if group is None:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    names = (signal.SIGINT,) if group is None else (signal.SIGINT, signal.SIGTERM)
    old = {}
    try:
        for n in names:
            old[n] = signal.signal(n, on_signal)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for n, handler in old.items():
            signal.signal(n, handler)
