"""The training settings: one plain dataclass, saved as ``config.json`` in each run.

Every field has a default that works on an imbalanced dataset on a laptop CPU:
Dice + CE loss, foreground-aware 256-px crops (a third of each batch centred on
a foreground pixel) at an input scale chosen from the data, AdamW at 1e-3 with
a short warm-up and a cosine decay over the budget (wall-clock when
``max_minutes`` is set), a U-Net with a residual encoder, bf16 autocast and
channels-last memory where the processor supports them. The GUI edits a copy (``dataclasses.replace``); the CLI builds one
from its arguments; :meth:`TrainConfig.from_json` reads one back from a run.

Stopping: a run ends at the first of ``max_steps``, ``epochs`` and
``max_minutes`` that is reached (``None`` = no such limit; all three ``None`` =
until :meth:`Trainer.stop`). The cosine decay follows the same budget: its
progress is the largest of steps/max_steps, epochs done/epochs and
minutes/max_minutes (with no budget the rate stays flat after warm-up).
``max_steps`` and ``epochs`` count from the first step of the first run (a
resumed run continues towards them); ``max_minutes`` counts this session,
paused time excluded. A run is reproducible with ``seed`` when it is bounded
by steps or epochs (a ``max_minutes`` budget ties the schedule to the clock).

Why these defaults (the measurements): ``docs/adr/0004-training-defaults.md``.

This module imports no torch (a test checks it): the CLI and the window read
the defaults and :data:`LOSS_NAMES` from here.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["available_cores", "ARCH_WIDTHS", "DEFAULT_LOSS", "DEVICES", "FLIPS", "LOSS_NAMES", "MAX_LR", "PRECISIONS",
           "REVIEW_FOLDS", "REVIEW_MINUTES_PER_FOLD", "TrainConfig",
           "ConfigError"]

#: The losses :func:`fcnstudio.train.losses.make_loss` builds. Kept here, in a module without torch,
#: so that the CLI and the window list them without importing torch.
LOSS_NAMES = ("ce", "weighted-ce", "dice", "focal", "dice+ce")
DEFAULT_LOSS = "dice+ce"
DEVICES = ("auto", "cpu", "cuda")
#: The networks and the base width each gets when ``width`` is None.
ARCH_WIDTHS = {"resunet": 32, "unet": 16, "fcn": 16}
FLIPS = ("auto", "all", "left-right")
#: ``auto``: bf16 autocast where the device computes bf16 natively (and a trial step works), else float32.
PRECISIONS = ("auto", "bf16", "fp32")
#: The largest learning rate accepted. Far above any useful value on purpose:
#: an absurd lr is the user's to try, and the monitor says what it does
#: (loss-nan / loss-diverging with a lower lr suggested) instead of a refusal.
MAX_LR = 1e4
#: The label review (``fcnstudio review``, :mod:`fcnstudio.train.review`): fold models, and training minutes
#: per fold — 3 folds of ~100 images of ~480x360 px, predictions included, fit in 15 minutes on 2 CPU cores
#: (measured: 100 images of 335x494 px in 12.9 minutes end to end; README, "Review").
REVIEW_FOLDS = 3
REVIEW_MINUTES_PER_FOLD = 4.0


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ConfigError(ValueError):
    """A training setting that cannot work; the message names the field and the fix."""


@dataclass
class TrainConfig:
    # what is learned ---------------------------------------------------------
    loss: str = DEFAULT_LOSS
    #: None (no weights), "auto" (median-frequency from the checker's statistics,
    #: else from the training masks) or one float per class.
    class_weights: Any = None
    # network -----------------------------------------------------------------
    arch: str = "resunet"
    #: base width of the network; None = the network's own (:data:`ARCH_WIDTHS`)
    width: int | None = None
    depth: int = 4
    norm: str = "batch"
    # optimiser ---------------------------------------------------------------
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 30
    #: the learning rate at the end of the cosine decay, as a fraction of ``lr``
    min_lr_fraction: float = 0.02
    grad_clip: float | None = 10.0
    # data --------------------------------------------------------------------
    batch_size: int = 8
    crop_size: int = 256
    #: "auto" (from the image sizes and the thinnest labelled structures: :mod:`.input_scale`) or a
    #: factor in (0, 1]: images and masks are resized by it for training; predict answers at full size
    input_scale: Any = "auto"
    #: share of each batch centred on a foreground pixel of a random present class
    fg_fraction: float = 1 / 3
    augment: bool = True
    #: which flips and turns augmentation draws: "auto" (left-right only when the labels show the images have an
    #: up, :mod:`.orientation`; else every direction), "all" or "left-right"
    flips: str = "auto"
    #: share of the images held out for validation (at least one image)
    val_fraction: float = 0.2
    #: validation images evaluated at each evaluation (a fixed, seeded subset)
    max_val_images: int = 32
    #: decoded image/mask pairs kept in memory, in megabytes
    cache_mb: int = 1024
    # budget ------------------------------------------------------------------
    max_steps: int | None = 2000
    epochs: int | None = None
    max_minutes: float | None = None
    # cadence -----------------------------------------------------------------
    eval_every_steps: int = 100
    eval_every_s: float = 15.0
    #: StepEvents at most this often (seconds) ...
    step_event_interval_s: float = 0.25
    #: ... or, when set, exactly every N steps (deterministic; tests use it)
    step_event_every: int | None = None
    max_previews: int = 4
    preview_size: int = 256
    # machine -----------------------------------------------------------------
    seed: int | None = 0
    device: str = "auto"
    #: torch threads; None = all cores but one (one is left to the GUI; the CLI passes all cores)
    num_threads: int | None = None
    #: one of :data:`PRECISIONS`
    precision: str = "auto"
    #: keep activations channels-last (NHWC), which the CPU's convolutions run faster
    channels_last: bool = True
    # files -------------------------------------------------------------------
    #: run folder; None = <dataset>/.fcnstudio/runs/<YYYYmmdd-HHMMSS>/
    out_dir: str | None = None
    #: a checkpoint to continue from (weights, optimiser, step)
    resume: str | None = None
    #: run the label checker before the first step (refuses error findings)
    preflight: bool = True

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` for a setting that cannot work."""
        if self.loss not in LOSS_NAMES:
            raise ConfigError(f"loss {self.loss!r} is not one of {', '.join(LOSS_NAMES)}")
        cw = self.class_weights
        if cw is not None and cw != "auto":
            if isinstance(cw, str) or not hasattr(cw, "__len__"):
                raise ConfigError(f"class_weights must be None, 'auto' or one number per class, got {cw!r}")
            try:
                vals = [float(x) for x in cw]
            except (TypeError, ValueError):
                raise ConfigError(f"class_weights must hold numbers, got {cw!r}") from None
            if not all(math.isfinite(v) and v >= 0 for v in vals) or sum(vals) == 0:
                raise ConfigError(f"class_weights must be finite, >= 0 and not all 0, got {vals}")
            self.class_weights = vals
        if self.loss == "dice" and self.class_weights is not None:
            raise ConfigError("the dice loss takes no class weights; use dice+ce or weighted-ce with class_weights")
        self._check_network()
        if self.norm not in ("batch", "group", "none"):
            raise ConfigError(f"norm {self.norm!r} is not one of batch, group, none")
        self._int("batch_size", 1)
        self._int("crop_size", 8)
        self._int("warmup_steps", 0)
        self._int("max_val_images", 1)
        self._int("cache_mb", 0)
        self._int("eval_every_steps", 1)
        self._int("max_previews", 0)
        self._int("preview_size", 16)
        for name in ("max_steps", "epochs", "step_event_every", "num_threads"):
            if getattr(self, name) is not None:
                self._int(name, 1)
        if self.seed is not None:
            self._int("seed", 0)
        for name, lo, hi in (("lr", 0.0, MAX_LR), ("fg_fraction", 0.0, 1.0), ("val_fraction", 0.0, 0.9),
                             ("min_lr_fraction", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be a number in [{lo}, {hi}], got {v!r}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "eval_every_s", "step_event_interval_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {v!r}")
        if self.grad_clip is not None and not (self.grad_clip > 0):
            raise ConfigError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.max_minutes is not None and not (self.max_minutes > 0):
            raise ConfigError(f"max_minutes must be > 0, got {self.max_minutes!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        return self

    def _check_network(self) -> None:
        """The network, its size, its input scale and how it computes."""
        if self.arch not in ARCH_WIDTHS:
            raise ConfigError(f"arch {self.arch!r} is not one of {', '.join(ARCH_WIDTHS)}")
        if self.width is not None:
            self._int("width", 1)
        self._int("depth", 1 if self.arch == "resunet" else 0, 6 if self.arch == "resunet" else 8)
        if self.flips not in FLIPS:
            raise ConfigError(f"flips {self.flips!r} is not one of {', '.join(FLIPS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if not isinstance(self.channels_last, bool):
            raise ConfigError(f"channels_last must be true or false, got {self.channels_last!r}")
        s = self.input_scale
        if s != "auto" and (isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.05 <= s <= 1):
            raise ConfigError(f"input_scale must be 'auto' or a number from 0.05 to 1, got {s!r}")

    def _int(self, name: str, lo: int, hi: int | None = None) -> None:
        v = getattr(self, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise ConfigError(f"{name} must be an integer {bound}, got {v!r}")

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        """A config from a dict (unknown keys are ignored: an older/newer run folder still opens)."""
        if not isinstance(data, dict):
            raise ConfigError("a training config must be a JSON object")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def base_width(self) -> int:
        """``width``, or the network's own default when it is None."""
        return self.width if self.width is not None else ARCH_WIDTHS[self.arch]

    def model_config(self, in_channels: int, num_classes: int) -> dict:
        """The dict :func:`fcnstudio.train.models.build_model` takes."""
        return {"arch": self.arch, "in_channels": int(in_channels), "num_classes": int(num_classes),
                "base_width": self.base_width, "depth": self.depth, "norm": self.norm}
