"""What a run trains with: the device, the seed, the network, the loss with its class weights, AdamW, a resume.

Each function takes the settings it needs and returns the object; the
:class:`~.trainer.Trainer` calls them in :meth:`~.trainer.Trainer.prepare`
(and :func:`build_loss` again when a suggestion changes the loss).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..core.project import Project
from .checkpoint import CheckpointError, check_model, load_checkpoint, one_line, rng_from_plain
from .config import ConfigError, TrainConfig, available_cores
from .data import PairStore
from .errors import DataError
from .losses import make_loss, median_frequency_weights
from .models import build_model
from .monitor import Monitor
from .predict import resolve_device
from .preflight import PreflightResult

__all__ = ["auto_weights", "build_loss", "build_network", "build_optimizer", "default_threads", "describe_setup",
           "device_for",
           "load_resume", "make_monitor", "read_resume", "resolve_weights", "seeded"]


def default_threads() -> int:
    """All cores this process may use but one (one is left to the GUI)."""
    return max(1, available_cores() - 1)


def describe_setup(t: Any) -> str:
    """What a prepared trainer ``t`` uses: one short line (network, input scale, crop, batch, flips, schedule,
    threads, precision), then a line on why (the input scale's, the flips' and the precision's reasons)."""
    cfg, mc = t.config, t.model.model_config
    if cfg.max_minutes:
        schedule = f"cosine over {cfg.max_minutes:g} min"
    elif cfg.max_steps or cfg.epochs:
        schedule = "cosine over the steps"
    else:
        schedule = "constant"
    upright = cfg.flips == "left-right" or (cfg.flips == "auto" and t.orientation.upright)
    flips = "no augmentation" if not cfg.augment else "left-right flips" if upright else "all flips"
    threads = torch.get_num_threads()
    line = (f"{mc['arch']} w{mc['base_width']}/d{mc['depth']} · input {t.input_scale.scale:g}x · "
            f"crop {cfg.crop_size} · batch {cfg.batch_size} · {flips} · lr {cfg.lr:g} {schedule} · "
            f"{threads} thread{'s' if threads != 1 else ''} · {t.precision.label.split(',')[0]}")
    why = [f"Input scale {t.input_scale.reason}."]
    if cfg.augment and cfg.flips == "auto":
        why.append(t.orientation.reason[:1].upper() + t.orientation.reason[1:] + ".")
    why.append(f"Precision: {t.precision.note}.")
    return line + "\n" + " ".join(why)


def device_for(cfg: TrainConfig) -> torch.device:
    try:
        return resolve_device(cfg.device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def seeded(seed: int | None) -> tuple[int, np.random.Generator]:
    """Seed torch; returns the seed used (random when ``seed`` is None) and the numpy generator of the run."""
    used = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    torch.manual_seed(used)
    return used, np.random.default_rng(used)


def read_resume(cfg: TrainConfig, project: Project) -> dict | None:
    """The checkpoint ``cfg.resume`` names, checked against the project's classes (None: no resume)."""
    if not cfg.resume:
        return None
    name = Path(cfg.resume).name
    ck = check_model(load_checkpoint(cfg.resume, map_location="cpu"), name)
    if len(ck["class_names"]) != project.num_classes:
        raise CheckpointError(
            f"{name} was trained for {len(ck['class_names'])} classes "
            f"({', '.join(ck['class_names'])}); this dataset has {project.num_classes} "
            f"({', '.join(project.class_names)}). Resume on the same classes, or start a new run.")
    return ck


def build_network(cfg: TrainConfig, resume: dict | None, in_channels: int, num_classes: int,
                  device: torch.device) -> torch.nn.Module:
    """The resumed checkpoint's network shape, else the config's; weights are loaded by :func:`load_resume`."""
    model_config = dict(resume["model_config"]) if resume is not None else cfg.model_config(in_channels, num_classes)
    return build_model(model_config).to(device)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_loss(name: str, num_classes: int, ignore_index: int, weights: Sequence[float] | None,
               device: torch.device) -> torch.nn.Module:
    return make_loss(name, num_classes, ignore_index, None if name == "dice" else weights).to(device)


def make_monitor(project: Project, check_result: PreflightResult | None, loss_name: str, lr: float, class_weights: list | None,
                 fresh_network: bool) -> Monitor:
    """The run's monitor, with the checker's class fractions when it has them for these classes."""
    stats = check_result.stats if check_result is not None else None
    fractions = stats.class_fraction if stats is not None else None
    if fractions is not None and len(fractions) != project.num_classes:
        fractions = None
    return Monitor(project.num_classes, project.class_names, project.ignore_index, loss_name, lr,
                   class_fractions_from_checker=fractions, warmup_evals=1, fresh_network=fresh_network,
                   uses_class_weights=class_weights is not None)


def resolve_weights(spec: Any, loss: str, num_classes: int, auto: Callable[[], list]) -> list | None:
    """Class weights from a config value: None, ``"auto"`` (``auto()``) or one number per class.

    The dice loss takes none; weighted-ce without weights gets the automatic ones."""
    if loss == "dice":
        return None
    if spec is None:
        return None if loss != "weighted-ce" else auto()
    if spec == "auto":
        return auto()
    w = [float(x) for x in spec]
    if len(w) != num_classes:
        raise ConfigError(f"class_weights has {len(w)} values for {num_classes} classes")
    return w


def auto_weights(check_result: PreflightResult | None, store: PairStore, train_idx: Sequence[int], num_classes: int) -> list:
    """The checker's suggested weights when it has usable ones, else median-frequency weights of the training masks."""
    stats = check_result.stats if check_result is not None else None
    sw = stats.suggested_weights if stats is not None else None
    if sw is not None and len(sw) == num_classes and all(math.isfinite(x) and x >= 0 for x in sw) and sum(sw) > 0:
        return [float(x) for x in sw]
    counts = store.class_pixels(train_idx)
    if counts.sum() == 0:
        raise DataError("class_weights 'auto': the training masks hold no labelled pixel")
    return [float(x) for x in median_frequency_weights(counts)]


def load_resume(ck: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                rng: np.random.Generator) -> tuple[int, float, np.random.Generator]:
    """Load weights, optimiser state and random state of ``ck``; returns (step, best score, numpy generator)."""
    try:
        model.load_state_dict(ck["model"])
        if isinstance(ck.get("optimizer"), dict):
            optimizer.load_state_dict(ck["optimizer"])
            for g in optimizer.param_groups:
                g["weight_decay"] = cfg.weight_decay
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{Path(cfg.resume).name}: the weights do not fit the model "
                              f"({one_line(exc)})") from None
    score = ck.get("best_score")
    saved = ck.get("rng") or {}
    if isinstance(saved.get("torch"), torch.Tensor):
        torch.set_rng_state(saved["torch"])
    if isinstance(saved.get("numpy"), dict):
        try:
            rng = rng_from_plain(saved["numpy"])
        except (KeyError, ValueError, TypeError, AttributeError):
            pass
    return int(ck.get("step", 0)), float(score) if isinstance(score, (int, float)) else -math.inf, rng
