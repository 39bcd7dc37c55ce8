"""Checkpoints: self-describing dicts of plain data, written atomically, loaded safely.

A checkpoint is a ``torch.save`` file (a zip holding a pickle). Loading a
pickle can run arbitrary code, so :func:`load_checkpoint` always uses
``torch.load(..., weights_only=True)``: only tensors, numbers, strings, lists,
tuples and dicts are rebuilt, and anything else (a class whose ``__reduce__``
would touch a file, say) is refused before it runs. To make that possible,
:func:`save_checkpoint` refuses to write anything but those types.

Keys (format version 1)::

    format            "fcnstudio-checkpoint"
    format_version    1
    model_config      dict for fcnstudio.train.models.build_model
    model             state_dict (tensors)
    optimizer         AdamW state_dict (resume only)
    step, epoch       ints
    class_names       [str]
    colors            [[r, g, b]]
    label_map         {"255": 1, "#ff0000": 2}  (as in fcnstudio.json)
    ignore_index      the project's ignore index (int or None)
    train_ignore_index the value the masks held for ignored/padded pixels
    channels          "grey" | "rgb"; in_channels int
    normalisation     dict (see fcnstudio.train.preprocess.NORMALISATION)
    input_scale       the factor images were resized by for training (absent: 1); predict
                      resizes by it and answers at full size
    metrics           the last evaluation (EvalEvent.to_json without previews)
    best_score        mean foreground IoU of best.pt so far
    train_config      TrainConfig.to_json()
    val_stems         validation images (a resumed run keeps the split)
    rng               {"torch": ByteTensor, "numpy": dict}
    created, fcnstudio_version   strings

Every write goes through :func:`fcnstudio.core.io.atomic_write_bytes`: a crash
leaves the old file or the new one.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.io import atomic_write_bytes

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "load_checkpoint", "one_line", "rng_from_plain",
           "rng_to_plain", "save_checkpoint", "validate_checkpoint", "check_model"]

FORMAT = "fcnstudio-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model_config", "model", "class_names", "step")
#: Refuse absurd files before reading them.
MAX_BYTES = 8 * 2**30


class CheckpointError(ValueError):
    """A checkpoint that cannot (or must not) be loaded; the message says why and what to do."""


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj: Any, where: str = "checkpoint", depth: int = 0) -> None:
    if depth > 64:
        raise CheckpointError(f"{where}: nested too deeply")
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"{where}: key {k!r} is a {type(k).__name__}; use str or int keys")
            _check_plain(v, f"{where}[{k!r}]", depth + 1)
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]", depth + 1)
        return
    raise CheckpointError(
        f"{where} is a {type(obj).__name__}: checkpoints hold only tensors, numbers, strings, "
        "lists and dicts (so they load with weights_only=True)")


def save_checkpoint(path: str | os.PathLike, ckpt: dict) -> Path:
    """Atomically write ``ckpt`` (plain data only; format keys are added) to ``path``."""
    path = Path(path)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **ckpt}
    _check_plain(data)
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint without running any code stored in it.

    Raises :class:`CheckpointError` for a missing, truncated, foreign or unsafe
    file, with a message that says which.
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a checkpoint file (best.pt or last.pt in a run folder)")
    if size == 0:
        raise CheckpointError(f"{name}: the file is empty (an interrupted copy?)")
    if size > MAX_BYTES:
        raise CheckpointError(f"{name}: {size / 2**30:.1f} GiB is too large to be an FCN Studio checkpoint")
    damaged = (f"{name}: the file is truncated or damaged; use another checkpoint (last.pt / best.pt) "
               "or retrain")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if head[:2] == b"PK":  # torch.save's zip container
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise CheckpointError(damaged) from None
        if bad is not None:
            raise CheckpointError(f"{damaged} ({bad} fails its checksum)")
    elif head[:1] != b"\x80":  # neither a zip nor a (legacy) pickle
        raise CheckpointError(f"{name}: not a PyTorch checkpoint (unknown file type); give a best.pt or "
                              "last.pt from an FCN Studio run folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "unexpected pickle protocol" on garbage
            data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                f"{name}: refused — the file holds Python objects other than tensors, numbers and "
                "strings, which could run code when loaded. FCN Studio checkpoints never do; only load "
                "checkpoints you made or trust.") from None
        raise CheckpointError(f"{damaged} ({one_line(exc)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError,
            ImportError, IndexError, KeyError, TypeError, MemoryError, OverflowError) as exc:
        raise CheckpointError(f"{damaged} ({one_line(exc)})") from None
    return validate_checkpoint(data, name)


def validate_checkpoint(data: Any, name: str = "checkpoint") -> dict:
    """Check the keys and types FCN Studio relies on; return ``data``."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{name}: holds a {type(data).__name__}, not an FCN Studio checkpoint")
    if data.get("format") != FORMAT:
        hint = " (a bare state_dict?)" if data and all(isinstance(v, torch.Tensor) for v in data.values()) else ""
        raise CheckpointError(f"{name}: not an FCN Studio checkpoint{hint}; train one with `fcnstudio train`")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{name}: format version {version!r} is newer than this FCN Studio "
                              f"understands ({FORMAT_VERSION}); update FCN Studio")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{name}: incomplete checkpoint, missing {', '.join(missing)}")
    if not isinstance(data["model_config"], dict) or not isinstance(data["model"], dict):
        raise CheckpointError(f"{name}: model_config and model must be dicts")
    names = data["class_names"]
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{name}: class_names must be a list of at least two names")
    return data


def check_model(data: dict, name: str = "checkpoint") -> dict:
    """Deeper checks before a network is built from ``data`` (predict, resume): bounded model
    settings that match the class names, tensors for weights, channels and colours that fit."""
    names = data["class_names"]
    step = data["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{name}: step must be a whole number >= 0, got {step!r}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data["model"].items()):
        raise CheckpointError(f"{name}: the weights (model) must map names to tensors")
    _check_model_config(data["model_config"], len(names), name)
    channels = data.get("channels")
    in_ch = data["model_config"].get("in_channels")
    if channels is not None and (channels, in_ch) not in (("grey", 1), ("rgb", 3)):
        raise CheckpointError(f"{name}: channels {channels!r} does not fit a network with {in_ch} input channels")
    colors = data.get("colors")
    if colors is not None:
        ok = isinstance(colors, list) and len(colors) >= len(names) and all(
            isinstance(c, (list, tuple)) and len(c) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c) for c in colors)
        if not ok:
            raise CheckpointError(f"{name}: colors must hold one [r, g, b] (0..255) per class")
    return data


#: Bounds on what a checkpoint may ask to build (a hostile file must not allocate terabytes).
_MODEL_BOUNDS = {"in_channels": (1, 4), "base_width": (1, 512), "depth": (0, 8)}


def _check_model_config(cfg: dict, num_classes: int, name: str) -> None:
    from .models import ARCHS, DEFAULT_MODEL_CONFIG, NORMS

    unknown = sorted(str(k) for k in cfg if k not in DEFAULT_MODEL_CONFIG)
    if unknown:
        raise CheckpointError(f"{name}: unknown model settings {', '.join(unknown)}")
    if cfg.get("arch", "unet") not in ARCHS or cfg.get("norm", "batch") not in NORMS:
        raise CheckpointError(f"{name}: unknown network {cfg.get('arch')!r} / norm {cfg.get('norm')!r}")
    for key, (lo, hi) in _MODEL_BOUNDS.items():
        v = cfg.get(key, DEFAULT_MODEL_CONFIG[key])
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise CheckpointError(f"{name}: model setting {key}={v!r} is outside {lo}..{hi}")
    if cfg.get("num_classes") != num_classes:
        raise CheckpointError(f"{name}: the network has {cfg.get('num_classes')!r} outputs for "
                              f"{num_classes} class names")


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's text on one line (torch's messages span many), shortened."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rng_to_plain(rng: np.random.Generator) -> dict:
    """A numpy Generator's state with its 128-bit integers as strings (plain data for a checkpoint)."""
    st = rng.bit_generator.state
    return json.loads(json.dumps(st, default=str), parse_int=str)


def rng_from_plain(d: dict) -> np.random.Generator:
    """The Generator saved by :func:`rng_to_plain`."""
    def ints(x):
        if isinstance(x, dict):
            return {k: ints(v) for k, v in x.items()}
        if isinstance(x, str) and x.lstrip("-").isdigit():
            return int(x)
        return x
    st = ints(d)
    name = st.get("bit_generator")
    if name not in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"):  # never call what a file names
        raise ValueError(f"unknown bit generator {name!r}")
    bg = getattr(np.random, name)()
    bg.state = st
    return np.random.Generator(bg)
