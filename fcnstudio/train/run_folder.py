"""The run folder (``config.json``, ``events.jsonl``, ``best.pt``, ``last.pt``) and the checkpoint dict.

The folder is ``cfg.out_dir``, else ``<dataset>/.fcnstudio/runs/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` … when
taken). :func:`run_info` is what ``config.json`` holds; :func:`checkpoint_dict` what a checkpoint holds
(format: :mod:`.checkpoint`). Both read the public state of a prepared :class:`~.trainer.Trainer` (``t``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..core.io import atomic_write_text
from ..core.state_dirs import runs_dir
from .checkpoint import rng_to_plain, save_checkpoint
from .config import ConfigError, TrainConfig
from .events import Event, to_json_line
from .preprocess import NORMALISATION

__all__ = ["EventsFile", "checkpoint_dict", "make_run_dir", "run_folder_name", "run_info", "save", "write_run_info"]

log = logging.getLogger(__name__)


class EventsFile:
    """``events.jsonl``: one JSON line per event; a failed write is logged, never raised.

    Each line goes out whole in one ``os.write`` of the complete line and its newline on an
    ``O_APPEND`` descriptor (no user-space buffer), so a killed writer leaves no torn line.
    """

    def __init__(self, path: Path) -> None:
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: Event) -> None:
        if self._fd is None:
            return
        try:
            data = (to_json_line(event) + "\n").encode("utf-8")
            n = os.write(self._fd, data)
            if n != len(data):  # a full disk: the rest would make a torn line, and a torn line is skipped on reading
                log.error("events.jsonl: only %d of %d bytes written", n, len(data))
        except (OSError, ValueError):
            log.exception("could not write events.jsonl")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def run_folder_name(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


def make_run_dir(cfg: TrainConfig, dataset_root: Path) -> Path:
    """Create the run folder; :class:`~.config.ConfigError` when it cannot be."""
    if cfg.out_dir:
        run_dir = Path(cfg.out_dir).expanduser()
    else:
        runs = runs_dir(dataset_root)
        base = run_folder_name()
        run_dir, n = runs / base, 2
        while run_dir.exists():
            run_dir, n = runs / f"{base}-{n}", n + 1
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}") from None
    return run_dir


def run_info(t: Any) -> dict:
    """What ``config.json`` records: the settings, the data, the split, the machine."""
    cfg = t.config
    return {
        "config": cfg.to_json(),
        "dataset": str(t.dataset.root),
        "classes": t.project.class_names,
        "colors": [list(c) for c in t.project.colors],
        "label_map": t.project.to_json()["label_map"],
        "ignore_index": t.project.ignore_index,
        "train_ignore_index": t.ignore_index,
        "channels": t.store.mode,
        "input_scale": t.input_scale.scale,
        "input_scale_reason": t.input_scale.reason,
        "orientation": t.orientation.reason,
        "precision": t.precision.label,
        "class_weights": t.class_weights,
        "seed_used": t.seed_used,
        "device": str(t.device),
        "processes": t.dist.world if t.dist is not None else 1,
        "train_stems": [t.store.stem(i) for i in t.train_idx],
        "val_stems": [t.store.stem(i) for i in t.val_idx],
        "resumed_from": str(cfg.resume) if cfg.resume else None,
        "start_step": t.step,
        "created": datetime.now().isoformat(timespec="seconds"),
        "fcnstudio_version": __version__,
    }


def write_run_info(t: Any) -> None:
    atomic_write_text(t.run_dir / "config.json", json.dumps(run_info(t), indent=2) + "\n")


def checkpoint_dict(t: Any, include_optimizer: bool = True) -> dict:
    """The self-describing checkpoint of the trainer's state now (plain data only)."""
    ev = t.last_eval.to_json() if t.last_eval is not None else None
    if ev is not None:
        ev.pop("previews", None)
    return {
        "model_config": dict(t.model.model_config),
        "model": {k: v.detach().cpu() for k, v in t.model.state_dict().items()},
        "optimizer": t.optimizer.state_dict() if include_optimizer else None,
        "step": int(t.step),
        "epoch": int(t.step // t.steps_per_epoch),
        "class_names": list(t.project.class_names),
        "colors": [list(c) for c in t.project.colors],
        "label_map": t.project.to_json()["label_map"],
        "ignore_index": t.project.ignore_index,
        "train_ignore_index": int(t.ignore_index),
        "channels": t.store.mode,
        "in_channels": int(t.store.in_channels),
        "normalisation": dict(NORMALISATION),
        "input_scale": float(t.input_scale.scale),
        "crop_size": int(t.config.crop_size),
        "metrics": ev,
        "best_score": float(t.best_score) if math.isfinite(t.best_score) else None,
        "loss": t.loss_name,
        "class_weights": t.class_weights,
        "train_config": t.config.to_json(),
        "val_stems": [t.store.stem(i) for i in t.val_idx],
        "rng": {"torch": torch.get_rng_state(), "numpy": rng_to_plain(t.rng)},
        "created": datetime.now().isoformat(timespec="seconds"),
        "fcnstudio_version": __version__,
    }


def save(t: Any, name: str) -> Path:
    """Write the trainer's checkpoint as ``name`` in its run folder (atomically)."""
    path = t.run_dir / name
    save_checkpoint(path, checkpoint_dict(t))
    return path
