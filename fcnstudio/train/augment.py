"""Joint image/mask augmentation on numpy arrays (no torch, no Qt).

One geometric transform is drawn per sample and applied to both arrays, so
they stay aligned; the mask is only ever resampled by nearest neighbour, so it
never gains a value it did not have (except the border fill of a rotation or
zoom-out: ``ignore_index`` when given, else 0). Intensity changes touch the
image only.

- ``image``: float HxW or HxWxC, values expected in ``[0, 1]`` (intensity
  changes clip to that range)
- ``mask``: integer HxW class indices

Order: horizontal flip, vertical flip, quarter-turns (``np.rot90``; a 90° or
270° turn only on square arrays, so batch shapes never change), then a small
rotation + scale about the centre (``cv2.warpAffine``: INTER_LINEAR for the
image with a 0 border, INTER_NEAREST for the mask with the fill value). The
random source is a ``numpy.random.Generator`` passed in: same seed, same output.

>>> rng = np.random.default_rng(0)
>>> img2, mask2 = augment_pair(img, mask, rng, AugmentConfig(), ignore_index=255)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "AugmentConfig",
    "Geometry",
    "adjust_intensity",
    "apply_geometry",
    "augment_pair",
    "map_point",
    "sample_geometry",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges. ``AugmentConfig.off()`` disables everything."""

    hflip: float = 0.5            # probability of a left-right flip
    vflip: float = 0.5            # probability of an up-down flip
    rot90: float = 0.5            # probability of a random quarter-turn
    affine: float = 0.5           # probability of a small rotation + scale
    max_rotate_deg: float = 15.0  # rotation drawn in ±this
    scale: tuple = (0.9, 1.1)     # zoom factor drawn in this range
    intensity: float = 0.5        # probability of each intensity change below
    brightness: float = 0.1       # added offset in ±this
    contrast: float = 0.1         # contrast factor in 1 ± this (about the mean)
    gamma: float = 0.2            # gamma in [1/(1+this), 1+this] (log-uniform)
    noise_std: float = 0.02       # Gaussian noise with std drawn in [0, this]

    def __post_init__(self) -> None:
        for name in ("hflip", "vflip", "rot90", "affine", "intensity"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"AugmentConfig.{name} is a probability in [0, 1], got {p}")
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"AugmentConfig.scale must be (low, high) with 0 < low <= high, got {self.scale}")
        for name in ("max_rotate_deg", "brightness", "contrast", "gamma", "noise_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0")

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(hflip=0, vflip=0, rot90=0, affine=0, intensity=0)


@dataclass(frozen=True)
class Geometry:
    """One drawn geometric transform (applied in field order)."""

    hflip: bool = False
    vflip: bool = False
    k90: int = 0          # counter-clockwise quarter-turns, as np.rot90
    angle: float = 0.0    # degrees, counter-clockwise (cv2 convention)
    scale: float = 1.0

    @property
    def has_affine(self) -> bool:
        return self.angle != 0.0 or self.scale != 1.0


def sample_geometry(shape: tuple, rng: np.random.Generator, config: AugmentConfig) -> Geometry:
    """Draw a :class:`Geometry` for an array of ``shape`` (H, W, ...)."""
    h, w = shape[:2]
    hflip = bool(rng.random() < config.hflip)
    vflip = bool(rng.random() < config.vflip)
    k90 = 0
    if rng.random() < config.rot90:
        k90 = int(rng.integers(1, 4)) if h == w else 2
    angle, scale = 0.0, 1.0
    if rng.random() < config.affine:
        angle = float(rng.uniform(-config.max_rotate_deg, config.max_rotate_deg))
        lo, hi = config.scale
        scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return Geometry(hflip, vflip, k90, angle, scale)


def _affine_matrix(geom: Geometry, h: int, w: int) -> np.ndarray:
    """2x3 forward matrix (source x, y → destination x, y) about the pixel-centre middle."""
    return cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), geom.angle, geom.scale)


def _warp_mask(mask: np.ndarray, m: np.ndarray, fill: int) -> np.ndarray:
    h, w = mask.shape
    src = mask
    if mask.dtype == np.int64 or mask.dtype == np.uint32:
        # OpenCV has no 64-bit/unsigned-32 integer images; int32 holds class indices
        if mask.size and (int(mask.min()) < np.iinfo(np.int32).min or int(mask.max()) > np.iinfo(np.int32).max):
            raise ValueError("mask values do not fit in int32")
        src = mask.astype(np.int32)
    elif mask.dtype == np.int8:
        src = mask.astype(np.int16)
    out = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=int(fill))
    return out.astype(mask.dtype, copy=False)


def apply_geometry(image: np.ndarray, mask: np.ndarray, geom: Geometry,
                   fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``geom`` to both arrays; ``fill`` is the mask value outside the source."""
    for flag, axis in ((geom.hflip, 1), (geom.vflip, 0)):
        if flag:
            image = np.flip(image, axis)
            mask = np.flip(mask, axis)
    if geom.k90 % 4:
        image = np.rot90(image, geom.k90, axes=(0, 1))
        mask = np.rot90(mask, geom.k90, axes=(0, 1))
    image = np.ascontiguousarray(image)
    mask = np.ascontiguousarray(mask)
    if geom.has_affine:
        h, w = mask.shape
        m = _affine_matrix(geom, h, w)
        warped = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        image = warped.reshape(image.shape)  # cv2 drops a trailing channel axis of 1
        mask = _warp_mask(mask, m, fill)
    return image, mask


def map_point(geom: Geometry, shape: tuple, y: float, x: float) -> tuple[float, float]:
    """Where source pixel (y, x) of an array of ``shape`` lands under ``geom``."""
    h, w = shape[:2]
    if geom.hflip:
        x = w - 1 - x
    if geom.vflip:
        y = h - 1 - y
    for _ in range(geom.k90 % 4):  # one counter-clockwise quarter-turn, as np.rot90
        y, x = w - 1 - x, y
        h, w = w, h
    if geom.has_affine:
        m = _affine_matrix(geom, h, w)
        x, y = m @ np.array([x, y, 1.0])
    return float(y), float(x)


def adjust_intensity(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Brightness, contrast, gamma, noise (each with probability ``config.intensity``), clipped to [0, 1]."""
    out = image.astype(np.float32, copy=True)
    p = config.intensity
    changed = False
    if rng.random() < p and config.brightness:
        out += np.float32(rng.uniform(-config.brightness, config.brightness))
        changed = True
    if rng.random() < p and config.contrast:
        mean = np.float32(out.mean())
        out = (out - mean) * np.float32(rng.uniform(1 - config.contrast, 1 + config.contrast)) + mean
        changed = True
    if rng.random() < p and config.gamma:
        g = math.exp(rng.uniform(-math.log1p(config.gamma), math.log1p(config.gamma)))
        out = np.power(np.clip(out, 0.0, 1.0), np.float32(g))
        changed = True
    if rng.random() < p and config.noise_std:
        std = rng.uniform(0.0, config.noise_std)
        out += rng.normal(0.0, std, size=out.shape).astype(np.float32)
        changed = True
    if changed:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def augment_pair(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 config: AugmentConfig | None = None,
                 ignore_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augment one (image, mask) pair; returns new float32 image and mask (same dtype)."""
    config = config or AugmentConfig()
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim not in (2, 3) or image.dtype.kind != "f":
        raise ValueError(f"image must be float HxW or HxWxC scaled to [0, 1], got {image.dtype} {image.shape}")
    if mask.ndim != 2 or mask.dtype.kind not in "iu":
        raise ValueError(f"mask must be an integer HxW array of class indices, got {mask.dtype} {mask.shape}")
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size")
    fill = 0 if ignore_index is None else int(ignore_index)
    info = np.iinfo(mask.dtype)
    if not info.min <= fill <= info.max:
        raise ValueError(f"ignore_index {fill} does not fit the mask dtype {mask.dtype}")
    geom = sample_geometry(image.shape, rng, config)
    image, mask = apply_geometry(image.astype(np.float32, copy=False), mask, geom, fill)
    return adjust_intensity(image, rng, config), mask
