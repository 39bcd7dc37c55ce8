"""``fcnstudio review DATASET``: find the masks that are most likely wrong.

Trains ``--folds`` models (each on the other folds, for ``--minutes-per-fold``
and/or ``--steps-per-fold``), predicts every held-out image, and ranks the
masks by how confidently the model disagrees with them
(:func:`fcnstudio.train.review.run_review`). The review goes to
``DATASET/.fcnstudio/reviews/<timestamp>/`` (``review.json``, ``probs/``).

stdout: the ranking (``--top`` images), or with ``--json`` the review as one
JSON object (``review.json`` plus ``"folder"``). stderr: a progress bar (fold
i of K, ETA) on a terminal, one line per phase otherwise. Ctrl-C cancels
cleanly: the partial folder is removed and no review.json is left.

Exit codes: 0 a trusted review was written; 1 a review was written but its
models are too weak (or collapsed) for a ranking — the reason is printed,
``"trusted": false`` in the JSON; 2 refused before training (usage, not a
dataset, too few pairs, label-check errors such as ``binary-255``); 130
cancelled.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time

from ..cli import UsageError
from .check import emit
from .predict import say

TOP_DEFAULT = 20


def _fmt_time(s) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ReviewBar:
    """Progress on stderr: a bar redrawn in place on a terminal (10 Hz at most), else one line per phase."""

    def __init__(self, stream=None, tty: bool | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.width = width
        self._last = 0.0
        self._phase = None
        self._shown = 0

    def __call__(self, p) -> None:
        phase = (p.fold, p.phase)
        if not self.tty:
            if phase != self._phase:
                self._phase = phase
                where = "checking the labels" if p.fold == 0 else f"fold {p.fold} of {p.folds}: {p.phase}"
                say(f"{where} …", self.stream)
            return
        now = time.monotonic()
        if phase == self._phase and p.done < p.total and now - self._last < 0.1:
            return
        self._phase, self._last = phase, now
        fill = int(round(self.width * (p.done / p.total if p.total else 1.0)))
        what = "check" if p.fold == 0 else f"fold {p.fold}/{p.folds} {p.phase:<7}"
        count = f"{_fmt_time(p.done)}/{_fmt_time(p.total)}" if p.phase == "train" else f"{p.done}/{p.total}"
        line = f"\r{what} [{'#' * fill}{'.' * (self.width - fill)}] {count}  ETA {_fmt_time(p.eta_s)}"
        self.stream.write(line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0


def _warnings(bar: ReviewBar):
    """Training warnings of the folds, one line each on stderr (the bar is redrawn after)."""
    from ..train.events import ErrorEvent, WarningEvent

    def on_event(fold: int, ev) -> None:
        if isinstance(ev, WarningEvent) and ev.severity == "warning":
            bar.close()
            say(f"fold {fold}: WARNING {ev.code}: {ev.message}", bar.stream)
        elif isinstance(ev, ErrorEvent):
            bar.close()
            say(f"fold {fold}: error: {ev.message}", bar.stream)
    return on_event


def run(args) -> int:
    from ..train.config import REVIEW_MINUTES_PER_FOLD, ConfigError, TrainConfig, available_cores
    from ..train.review import review_config, run_review
    from ..train.trainer import REFUSALS

    if args.top < 0:
        raise UsageError(f"--top must be 0 or more, got {args.top}")
    minutes = args.minutes_per_fold
    if minutes is None and args.steps_per_fold is None:
        minutes = REVIEW_MINUTES_PER_FOLD
    # a terminal review has no window to keep responsive: every core trains (as `fcnstudio train`)
    base = TrainConfig(num_threads=available_cores())
    try:
        review_config(base, minutes, args.steps_per_fold)
    except ConfigError as exc:
        message = str(exc).replace("max_minutes", "--minutes-per-fold").replace("max_steps", "--steps-per-fold")
        raise UsageError(message) from None
    stopping = threading.Event()
    bar = ReviewBar() if not args.no_progress else None

    def on_sigint(signum, frame):
        if bar is not None:
            bar.close()
        print("cancelling the review (Ctrl-C again to abort) …", file=sys.stderr, flush=True)
        stopping.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        old = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        old = None
    try:
        outcome = run_review(args.dataset, args.folds, minutes, args.steps_per_fold, config=base, progress=bar,
                             stop=stopping.is_set, on_event=_warnings(bar or ReviewBar(tty=False)))
    except REFUSALS as exc:
        if args.json:
            codes = getattr(exc, "codes", None)
            emit(json.dumps({"error": str(exc), **({"codes": list(codes)} if codes else {})}) + "\n")
        raise UsageError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a failure mid-review (disk full …): one line, exit 1
        if bar is not None:
            bar.close()
        say(f"fcnstudio review: {type(exc).__name__}: {exc}", sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if outcome.cancelled:
        say("fcnstudio review: cancelled; nothing was kept", sys.stderr)
        return 130
    review = outcome.review
    if args.json:
        emit(json.dumps({**review.to_json(), "folder": str(outcome.folder)}, allow_nan=False) + "\n")
    else:
        emit("\n".join(render(review, outcome.folder, args.top)) + "\n")
    return 0 if review.trusted else 1


def _num(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "n/a"


def render(review, folder, top: int = TOP_DEFAULT) -> list[str]:
    """The human report: fold quality, the verdict, then the most suspicious masks (when trusted)."""
    names = list(review.classes)
    lines = [f"FCN Studio review: {review.dataset}", f"  {review.folds} folds; held-out quality of each fold model:"]
    for q in review.fold_quality:
        if q.error:
            lines.append(f"  fold {q.fold}: the run failed ({q.error}); its {q.images} images are not ranked")
        elif q.collapsed:
            lines.append(f"  fold {q.fold}: the model collapsed ({', '.join(q.collapse)}); its {q.images} images "
                         "are not ranked")
        else:
            lines.append(f"  fold {q.fold}: mean IoU {_num(q.mean_iou)}, foreground IoU {_num(q.mean_fg_iou)}, "
                         f"pixel accuracy {_num(q.pixel_accuracy)} ({q.images} images, {q.steps} steps)")
    lines.append("")
    if not review.trusted:
        lines += [f"Not trusted: {review.reason}", "No ranking is shown: it would be noise.",
                  f"review: {folder}/review.json"]
        return lines
    shown = review.images[:top]
    lines.append(f"Most suspicious masks first ({len(shown)} of {len(review.images)}; review.json has them all):")
    for im in shown:
        lines.append(f"  {im.score:.2f}  {im.mask}" + (f"  {_region_text(im.regions[0], names)}" if im.regions else ""))
        if len(im.regions) > 1:
            lines.append(f"        … and {len(im.regions) - 1} more region{'s' if len(im.regions) > 2 else ''}")
    if review.unranked:
        lines.append(f"{len(review.unranked)} images not ranked (see \"unranked\" in review.json)")
    lines.append(f"review: {folder}/review.json")
    return lines


def _region_text(r, names: list) -> str:
    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else f"class {i}"
    x, y, w, h = r.box
    return (f"{r.kind}: labelled {name(r.label)}, the model sees {name(r.predicted)} at x={x} y={y} ({w}x{h} px, "
            f"score {r.score:.2f})")
