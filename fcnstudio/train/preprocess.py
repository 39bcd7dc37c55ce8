"""Image preprocessing shared by training and predict: one function turns a decoded image into network input.

    read_image ─► channels (grey/RGB by the dataset's majority; RGBA → RGB)
               ─► unit scale to [0, 1] (8-bit: /255; 16-bit, int, float: 0.5–99.5 percentiles)
               ─► per-image z-score (the mean/std of the whole unit image)

:class:`~.data.PairStore` caches the unit image with its mean/std
(:func:`prepare_image`); crops and evaluation z-score it with
:func:`unit_to_model_input`; predict calls :func:`image_to_model_input`, which
is the two in a row. :data:`NORMALISATION` is what a checkpoint records of it.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..core.dataset import Dataset, Pair
from ..core.io import ImageReadError, read_header
from .errors import DataError

__all__ = ["NORMALISATION", "channel_mode", "image_to_model_input", "prepare_image", "unit_scale",
           "unit_to_model_input", "zscore"]

GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
#: How many image headers are read to decide grey vs RGB.
CHANNEL_SAMPLE = 256

#: What the checkpoint records about the input preprocessing (predict repeats it).
NORMALISATION = {
    "kind": "per-image-zscore",
    "unit_scale": "uint8/255; other types: 0.5-99.5 percentiles to [0, 1]",
    "pad_value": "image mean",
}


def channel_mode(dataset: Dataset, pairs: Sequence[Pair] | None = None) -> str:
    """``"grey"`` or ``"rgb"``: what most images of the dataset are (ties → rgb).

    Reads headers only (up to :data:`CHANNEL_SAMPLE`, spread over the dataset).
    """
    pairs = [p for p in (pairs if pairs is not None else dataset.pairs) if p.image is not None]
    if len(pairs) > CHANNEL_SAMPLE:
        step = len(pairs) / CHANNEL_SAMPLE
        pairs = [pairs[int(i * step)] for i in range(CHANNEL_SAMPLE)]
    grey = rgb = 0
    for p in pairs:
        try:
            mode = read_header(p.image).mode
        except ImageReadError:
            continue
        if mode in GREY_MODES:
            grey += 1
        else:
            rgb += 1
    return "grey" if grey > rgb else "rgb"


def _to_channels(image: np.ndarray, mode: str, name: str) -> np.ndarray:
    """HxWxC with C = 1 (grey) or 3 (rgb); RGBA drops alpha, grey→RGB repeats."""
    if image.ndim == 2:
        image = image[:, :, None]
    c = image.shape[2]
    if c == 4:
        image, c = image[:, :, :3], 3
    elif c == 2:  # grey + alpha
        image, c = image[:, :, :1], 1
    elif c not in (1, 3):
        raise DataError(f"{name}: images with {c} channels are not supported (use grey, RGB or RGBA)")
    if mode == "grey" and c == 3:
        if image.dtype in (np.uint8, np.uint16):  # keeps the type, so 8-bit stays on the /255 scale
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None]
        else:
            f = image.astype(np.float32)
            image = (0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2])[:, :, None]
    elif mode == "rgb" and c == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def unit_scale(image: np.ndarray) -> np.ndarray:
    """Float32 in [0, 1]: 8-bit ÷ 255; 16-bit, other ints and floats by their 0.5/99.5 percentiles."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1 / 255)
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    f = image.astype(np.float32)
    finite = np.isfinite(f)
    if not finite.all():
        f = np.where(finite, f, 0.0).astype(np.float32)
    sub = f.reshape(-1)
    if sub.size > 1_000_000:
        sub = sub[:: sub.size // 1_000_000 + 1]
    lo, hi = np.percentile(sub, [0.5, 99.5])
    if hi - lo < 1e-12:
        lo, hi = float(sub.min()), float(sub.max())
    if hi - lo < 1e-12:
        return np.zeros_like(f)
    out = (f - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def zscore(unit: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(unit - mean) / std`` as float32 (std floored so a flat image stays finite)."""
    return (unit - np.float32(mean)) / np.float32(max(std, 1e-3))


def prepare_image(raw: np.ndarray, mode: str, name: str = "image") -> tuple[np.ndarray, float, float]:
    """Raw decoded image → (unit float32 HxWxC, mean, std): what the cache holds."""
    unit = unit_scale(_to_channels(raw, mode, name))
    return np.ascontiguousarray(unit), float(unit.mean()), float(unit.std())


def unit_to_model_input(unit: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Unit float HxWxC (whole image or crop) → z-scored CxHxW float32, the network's input layout."""
    return np.ascontiguousarray(zscore(unit, mean, std).transpose(2, 0, 1))


def image_to_model_input(raw: np.ndarray, mode: str, name: str = "image") -> np.ndarray:
    """Raw decoded image → normalised CxHxW float32, exactly as training sees it (for predict)."""
    return unit_to_model_input(*prepare_image(raw, mode, name))
