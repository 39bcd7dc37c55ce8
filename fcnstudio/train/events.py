"""Training events: the one contract between trainer, GUI and CLI.

The trainer emits these frozen dataclasses through a callback; ``gui/worker.py``
turns them into Qt signals, and ``fcnstudio train --json-log`` prints
:func:`to_json_line` of each, one JSON object per line. Events carry plain
Python numbers and numpy arrays, never tensors or widgets, and this module
imports neither torch nor Qt (the GUI and CLI can read events cheaply).

JSON shape (``to_json()``), one ``"event"`` key per kind::

    {"event": "step",    "step", "epoch", "loss", "lr", "images_per_s", "elapsed_s", "eta_s"}
    {"event": "eval",    "step", "val_loss", "iou", "dice", "true_fraction",
                         "pred_fraction", "max_fg_prob", "prob_spread", "image_spread",
                         "untrained_spread", "mean_iou", "mean_fg_iou",
                         "previews": [{"stem", "height", "width", "channels"}, ...]}
    {"event": "warning", "step", "code", "severity": "warning", "message",
                         "diagnosis", "suggestions": [{"label", "action"}], "classes"}
    {"event": "info",    "step", "code", "severity": "info", ...}   # e.g. collapse-recovered
    {"event": "done",    "best_checkpoint", "best_mean_iou", "last_checkpoint", "steps", "stopped"}
    {"event": "error",   "message", "detail"}

A :class:`WarningEvent` whose severity is ``"info"`` (the monitor's
``collapse-recovered``) serialises as ``"event": "info"``; so does
:class:`InfoEvent` (a trainer note without suggestions). Non-finite floats (a NaN
loss, the IoU of a class absent from truth and prediction) become ``null`` so
every line is strict JSON. Preview arrays are summarised, never dumped.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

import numpy as np

__all__ = [
    "ACTION_KEYS",
    "DoneEvent",
    "ErrorEvent",
    "EvalEvent",
    "Event",
    "InfoEvent",
    "Preview",
    "StepEvent",
    "Suggestion",
    "WarningEvent",
    "file_skipped",
    "out_of_memory",
    "to_json_line",
]

#: Keys a :class:`Suggestion` action may hold, and what the GUI/CLI does with each:
#: ``loss`` (a loss name, e.g. ``"dice+ce"``), ``class_weights`` (``"auto"``:
#: median-frequency weights from the label statistics), ``lr`` (a float, the new
#: learning rate), ``open_checker`` (``True``: run/show the label checker).
ACTION_KEYS = ("loss", "class_weights", "lr", "open_checker")

SEVERITIES = ("warning", "info")


def _num(x: Any) -> float | None:
    """A float for JSON: NaN/Inf become None (JSON has no NaN)."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _nums(xs: tuple) -> list:
    return [_num(x) for x in xs]


def _frozen_array(a: Any, name: str) -> np.ndarray:
    """A read-only view of ``a`` (the caller's array keeps its own flags)."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(a).__name__}; "
                         "convert tensors with .detach().cpu().numpy() first")
    v = a.view()
    v.flags.writeable = False
    return v


def _float_tuple(xs: Any, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in xs)
    except TypeError as e:
        raise ValueError(f"{name} must be a sequence of numbers (one per class)") from e


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step. ``eta_s`` is None when unknown (no step budget)."""

    step: int
    epoch: int
    loss: float
    lr: float
    images_per_s: float
    elapsed_s: float
    eta_s: float | None = None

    def to_json(self) -> dict:
        return {
            "event": "step",
            "step": int(self.step),
            "epoch": int(self.epoch),
            "loss": _num(self.loss),
            "lr": _num(self.lr),
            "images_per_s": _num(self.images_per_s),
            "elapsed_s": _num(self.elapsed_s),
            "eta_s": _num(self.eta_s),
        }


@dataclass(frozen=True, eq=False)
class Preview:
    """What the network predicts for one validation image.

    - ``image``: uint8, HxW or HxWx3 (display-ready: already scaled to 0..255)
    - ``truth``: uint8 HxW class indices (ignore_index kept as stored, e.g. 255)
    - ``pred``:  uint8 HxW predicted class indices (argmax)
    - ``prob``:  float16 CxHxW softmax probabilities

    Arrays are stored as read-only views. Equality is identity (arrays have no
    single truth value).
    """

    stem: str
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    prob: np.ndarray

    def __post_init__(self) -> None:
        for name in ("image", "truth", "pred", "prob"):
            object.__setattr__(self, name, _frozen_array(getattr(self, name), name))
        img, truth, pred, prob = self.image, self.truth, self.pred, self.prob
        if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
            raise ValueError(f"Preview.image must be uint8 HxW or HxWx3, got {img.dtype} {img.shape}")
        hw = img.shape[:2]
        for name, a in (("truth", truth), ("pred", pred)):
            if a.dtype != np.uint8 or a.shape != hw:
                raise ValueError(f"Preview.{name} must be uint8 {hw}, got {a.dtype} {a.shape}")
        if prob.dtype != np.float16 or prob.ndim != 3 or prob.shape[1:] != hw:
            raise ValueError(f"Preview.prob must be float16 Cx{hw[0]}x{hw[1]}, got {prob.dtype} {prob.shape}")

    @property
    def num_classes(self) -> int:
        return int(self.prob.shape[0])

    def to_json(self) -> dict:
        h, w = self.image.shape[:2]
        return {"stem": self.stem, "height": int(h), "width": int(w),
                "channels": 1 if self.image.ndim == 2 else int(self.image.shape[2])}


@dataclass(frozen=True, eq=False)
class EvalEvent:
    """Validation metrics after ``step`` steps; per-class tuples indexed by class.

    ``iou``/``dice`` are NaN for a class absent from both truth and prediction
    (see :mod:`fcnstudio.train.metrics`). ``true_fraction``/``pred_fraction`` are
    the share of labelled (non-ignored) pixels that are / are predicted as each
    class. ``max_fg_prob[c]`` is the largest softmax probability of class ``c``
    over the labelled pixels (entry 0 is the background's, for completeness);
    ``prob_spread[c]`` is that maximum minus the smallest (empty when not
    measured): near 0 for every class means a network whose output no longer
    depends on the image. ``image_spread`` is the largest standard deviation
    of a validation image's intensities (0..1 scale, per channel, labelled
    pixels; NaN when not measured): near 0, the images are blank and a
    constant answer proves nothing. ``untrained_spread`` is ``prob_spread`` of
    the network before its first step (empty after a resume or when not
    measured).
    """

    step: int
    val_loss: float
    iou: tuple
    dice: tuple
    true_fraction: tuple
    pred_fraction: tuple
    max_fg_prob: tuple
    previews: tuple = ()
    prob_spread: tuple = ()
    image_spread: float = math.nan
    untrained_spread: tuple = ()
    seconds: float = math.nan

    def __post_init__(self) -> None:
        names = ("iou", "dice", "true_fraction", "pred_fraction", "max_fg_prob")
        for name in names:
            object.__setattr__(self, name, _float_tuple(getattr(self, name), name))
        lengths = {name: len(getattr(self, name)) for name in names}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"EvalEvent per-class tuples differ in length: {lengths}")
        object.__setattr__(self, "previews", tuple(self.previews))
        object.__setattr__(self, "prob_spread", _float_tuple(self.prob_spread, "prob_spread"))
        object.__setattr__(self, "image_spread", float(self.image_spread))
        object.__setattr__(self, "seconds", float(self.seconds))
        object.__setattr__(self, "untrained_spread", _float_tuple(self.untrained_spread, "untrained_spread"))
        for name in ("prob_spread", "untrained_spread"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.iou):
                raise ValueError(f"EvalEvent.{name} has {len(getattr(self, name))} values for {len(self.iou)} classes")
        for p in self.previews:
            if not isinstance(p, Preview):
                raise ValueError(f"EvalEvent.previews must hold Preview objects, got {type(p).__name__}")

    @property
    def num_classes(self) -> int:
        return len(self.iou)

    @property
    def mean_iou(self) -> float:
        """Mean IoU over all classes, skipping NaN (absent) classes; NaN if none."""
        return _nanmean(self.iou)

    @property
    def mean_fg_iou(self) -> float:
        """Mean IoU over foreground classes (1..C-1), skipping NaN; NaN if none.

        Prefer this for "best checkpoint": a network that predicts only
        background still scores a high background IoU.
        """
        return _nanmean(self.iou[1:])

    def to_json(self) -> dict:
        return {
            "event": "eval",
            "step": int(self.step),
            "val_loss": _num(self.val_loss),
            "iou": _nums(self.iou),
            "dice": _nums(self.dice),
            "true_fraction": _nums(self.true_fraction),
            "pred_fraction": _nums(self.pred_fraction),
            "max_fg_prob": _nums(self.max_fg_prob),
            "prob_spread": _nums(self.prob_spread),
            "image_spread": _num(self.image_spread),
            "untrained_spread": _nums(self.untrained_spread),
            "mean_iou": _num(self.mean_iou),
            "mean_fg_iou": _num(self.mean_fg_iou),
            "seconds": _num(self.seconds),
            "previews": [p.to_json() for p in self.previews],
        }


def _nanmean(xs: tuple) -> float:
    vals = [x for x in xs if math.isfinite(x)]
    return sum(vals) / len(vals) if vals else math.nan


@dataclass(frozen=True)
class Suggestion:
    """A fix the GUI can apply with one click; ``action`` is machine-readable.

    ``action`` keys are listed in :data:`ACTION_KEYS`, e.g. ``{"loss": "dice+ce"}``,
    ``{"class_weights": "auto"}``, ``{"lr": 1e-4}``, ``{"open_checker": True}``.
    It is stored as a read-only mapping; ``to_json`` gives a plain dict.
    """

    label: str
    action: Mapping[str, Any]

    def __post_init__(self) -> None:
        action = dict(self.action)
        unknown = sorted(set(action) - set(ACTION_KEYS))
        if not action or unknown:
            raise ValueError(f"Suggestion action keys must be among {ACTION_KEYS}, got {sorted(action)}")
        object.__setattr__(self, "action", types.MappingProxyType(action))

    __hash__ = None  # type: ignore[assignment]  # holds a mapping

    def to_json(self) -> dict:
        return {"label": self.label, "action": dict(self.action)}


@dataclass(frozen=True)
class WarningEvent:
    """A monitor finding about the run.

    ``severity`` is ``"warning"`` (collapse-background, collapse-single-class,
    class-never-predicted, loss-nan, loss-diverging, loss-plateau) or ``"info"``
    (collapse-recovered). ``classes`` names the class indices concerned (the
    collapsed ones, or the recovered ones); ``clears`` is, for an info event,
    the code of the warning it ends (the GUI drops that banner).
    """

    step: int
    code: str
    severity: str
    message: str
    diagnosis: str = ""
    suggestions: tuple = ()
    classes: tuple = ()
    clears: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        object.__setattr__(self, "suggestions", tuple(self.suggestions))
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        for s in self.suggestions:
            if not isinstance(s, Suggestion):
                raise ValueError(f"suggestions must be Suggestion objects, got {type(s).__name__}")

    def to_json(self) -> dict:
        d = {
            "event": "info" if self.severity == "info" else "warning",
            "step": int(self.step),
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "diagnosis": self.diagnosis,
            "suggestions": [s.to_json() for s in self.suggestions],
            "classes": list(self.classes),
        }
        if self.clears:
            d["clears"] = self.clears
        return d


@dataclass(frozen=True)
class InfoEvent:
    """A note from the trainer that needs no action (e.g. ``"resumed"``, ``"device"``)."""

    step: int
    code: str
    message: str

    def to_json(self) -> dict:
        return {"event": "info", "step": int(self.step), "code": self.code,
                "severity": "info", "message": self.message}


@dataclass(frozen=True)
class DoneEvent:
    """The run ended: normally (``stopped=False``) or by the user (``stopped=True``).

    Checkpoint paths are strings (or None when none was written);
    ``best_mean_iou`` is NaN when no evaluation ran.
    """

    best_checkpoint: str | None
    best_mean_iou: float
    last_checkpoint: str | None
    steps: int
    stopped: bool

    def to_json(self) -> dict:
        return {
            "event": "done",
            "best_checkpoint": None if self.best_checkpoint is None else str(self.best_checkpoint),
            "best_mean_iou": _num(self.best_mean_iou),
            "last_checkpoint": None if self.last_checkpoint is None else str(self.last_checkpoint),
            "steps": int(self.steps),
            "stopped": bool(self.stopped),
        }


@dataclass(frozen=True)
class ErrorEvent:
    """The run failed. ``message`` says what to do; ``detail`` may hold a traceback."""

    message: str
    detail: str = field(default="")

    def to_json(self) -> dict:
        return {"event": "error", "message": self.message, "detail": self.detail}


Event = Union[StepEvent, EvalEvent, WarningEvent, InfoEvent, DoneEvent, ErrorEvent]


def to_json_line(event: Event) -> str:
    """One line of strict JSON (no NaN), as ``fcnstudio train --json-log`` prints it."""
    return json.dumps(event.to_json(), allow_nan=False, separators=(",", ":"))


# ---------------------------------------------------------------- the trainer's own warnings


def file_skipped(step: int, reason: str) -> WarningEvent:
    """An image left out of the run because it became unreadable during it."""
    return WarningEvent(step=step, code="file-skipped", severity="warning", message=f"left out of this run: {reason}",
                        diagnosis="The file was readable when training started; it was deleted, moved or damaged "
                                  "since. Training goes on without it.")


def out_of_memory(step: int, old_batch: int, new_batch: int, detail: str) -> WarningEvent:
    """The batch was halved after an out-of-memory error."""
    return WarningEvent(step=step, code="out-of-memory", severity="warning",
                        message=f"out of memory with batch {old_batch}: training goes on with batch {new_batch}",
                        diagnosis=detail)
