"""Inference with a trained checkpoint: whole image or sliding window, same preprocessing as training.

    predictor = Predictor.from_file("run/best.pt")
    classes, prob = predictor.predict(read_image("a.png"))   # HxW indices, CxHxW probabilities
    predict_paths("run/best.pt", ["images/"], "out/")         # palette PNG masks

The image goes through exactly what training did (:func:`fcnstudio.train.preprocess.image_to_model_input`:
grey/RGB as the checkpoint's ``channels``, unit scale,
per-image z-score), resized by the checkpoint's ``input_scale`` when it was
trained at a reduced scale; the probabilities are resized back (bilinear), so
the answer is always at the image's full size. Images up to ``tile`` pixels a
side go through the network whole (it pads to a multiple of its down-sampling
itself); larger ones are cut into overlapping ``tile``-sized windows whose
softmax outputs are averaged. The forward pass runs in bf16 where the
processor computes it natively (:mod:`.precision`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..core.io import IMAGE_SUFFIXES, ImageReadError, read_image, write_mask
from ..core.project import index_dtype
from .checkpoint import CheckpointError, check_model, load_checkpoint, one_line, validate_checkpoint
from .models import build_model
from .precision import Precision, native_bf16
from .preprocess import image_to_model_input

__all__ = ["Predictor", "PredictResult", "collect_images", "predict_paths", "predict_probs", "resolve_device"]

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU raises ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)


def _starts(extent: int, tile: int, stride: int) -> list[int]:
    if extent <= tile:
        return [0]
    starts = list(range(0, extent - tile + 1, stride))
    if starts[-1] + tile < extent:
        starts.append(extent - tile)
    return starts


@torch.no_grad()
def predict_probs(model: torch.nn.Module, x: torch.Tensor, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, stop: Callable[[], bool] | None = None) -> torch.Tensor | None:
    """Softmax probabilities ``K x H x W`` for one normalised ``C x H x W`` image (model in eval mode).

    Returns None when ``stop()`` became true between windows.
    """
    if x.ndim == 3:
        x = x[None]
    _, _, h, w = x.shape
    if h <= tile and w <= tile:
        return model(x).float().softmax(1)[0]
    stride = max(1, tile - overlap)
    acc = None
    count = torch.zeros((1, h, w), device=x.device)
    for y in _starts(h, tile, stride):
        for x0 in _starts(w, tile, stride):
            if stop is not None and stop():
                return None
            patch = x[:, :, y:y + tile, x0:x0 + tile]
            p = model(patch).float().softmax(1)[0]
            if acc is None:
                acc = torch.zeros((p.shape[0], h, w), device=x.device)
            acc[:, y:y + tile, x0:x0 + tile] += p
            count[:, y:y + tile, x0:x0 + tile] += 1
    return acc / count


class Predictor:
    """A model rebuilt from a checkpoint dict, with the preprocessing it was trained with."""

    def __init__(self, ckpt: dict, device: str | torch.device = "cpu", tile: int = DEFAULT_TILE,
                 name: str = "checkpoint") -> None:
        ckpt = check_model(validate_checkpoint(ckpt, name), name)
        self.ckpt = ckpt
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        try:
            self.model = build_model(ckpt["model_config"])
            self.model.load_state_dict(ckpt["model"])
        except (ValueError, RuntimeError, KeyError, TypeError, MemoryError) as exc:
            raise CheckpointError(f"{name}: the weights do not fit the network the checkpoint describes "
                                  f"({one_line(exc)})") from None
        self.model.to(self.device).eval()
        self.class_names = list(ckpt["class_names"])
        self.colors = [tuple(int(v) for v in c) for c in ckpt.get("colors") or []]
        self.channels = ckpt.get("channels") or ("grey" if ckpt["model_config"].get("in_channels") == 1 else "rgb")
        self.tile = int(tile)
        scale = ckpt.get("input_scale")
        self.input_scale = float(scale) if isinstance(scale, (int, float)) and 0 < scale <= 1 else 1.0
        self.precision = Precision(native_bf16(self.device), self.device.type == "cpu")
        self.precision.prepare(self.model)

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto", tile: int = DEFAULT_TILE) -> "Predictor":
        dev = resolve_device(device)
        return cls(load_checkpoint(path, map_location="cpu"), dev, tile, name=Path(path).name)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def predict(self, raw: np.ndarray, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """``(classes HxW uint8/uint16, prob KxHxW float32)`` for a raw decoded image, at its full size."""
        x = image_to_model_input(raw, self.channels, name)
        h, w = x.shape[1:]
        if self.input_scale != 1.0:
            size = (max(1, round(w * self.input_scale)), max(1, round(h * self.input_scale)))
            x = cv2.resize(x.transpose(1, 2, 0), size, interpolation=cv2.INTER_AREA)
            x = np.ascontiguousarray((x[:, :, None] if x.ndim == 2 else x).transpose(2, 0, 1))
        with self.precision.autocast(self.device):
            prob = predict_probs(self.model, torch.from_numpy(x).to(self.device), self.tile)
        if prob.shape[1:] != (h, w):
            prob = F.interpolate(prob[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        classes = prob.argmax(0).cpu().numpy()
        return classes.astype(index_dtype(self.num_classes - 1)), prob.cpu().numpy()


@dataclass(frozen=True)
class PredictResult:
    source: Path
    output: Path | None
    error: str | None = None


def collect_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Image files from files and folders (a folder's images, not its subfolders), sorted, once each."""
    out: list[Path] = []
    seen = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                           and f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists():
            files = [p]
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def predict_paths(checkpoint: str | os.PathLike | Predictor, inputs: Sequence[str | os.PathLike],
                  out_dir: str | os.PathLike, device: str = "auto",
                  progress: Callable[[PredictResult, int, int], None] | None = None) -> list[PredictResult]:
    """Write ``<out_dir>/<stem>.png`` (palette PNG, class colours of the checkpoint) for every input image."""
    predictor = checkpoint if isinstance(checkpoint, Predictor) else Predictor.from_file(checkpoint, device)
    files = collect_images(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: list[PredictResult] = []
    used: set[str] = set()
    for n, f in enumerate(files):
        stem = f.stem
        name, k = f"{stem}.png", 1
        while name in used:
            name, k = f"{stem}_{k}.png", k + 1
        used.add(name)
        dst = out / name
        try:
            classes, _ = predictor.predict(read_image(f), f.name)
        except (ImageReadError, ValueError) as exc:
            r = PredictResult(f, None, one_line(exc, 400))
        except (RuntimeError, MemoryError) as exc:  # e.g. out of memory on a huge image
            r = PredictResult(f, None, f"{f.name}: the network could not process it ({one_line(exc)})")
        else:
            try:
                write_mask(dst, classes, predictor.colors or None)
                r = PredictResult(f, dst)
            except OSError as exc:
                r = PredictResult(f, None, f"{f.name}: cannot write {dst} ({exc.strerror or one_line(exc)})")
        results.append(r)
        if progress is not None:
            progress(r, n + 1, len(files))
    return results
