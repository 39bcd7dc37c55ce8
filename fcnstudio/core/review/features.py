"""Pixel evidence a region's score can use beyond the model's confidence: image edges and neighbouring frames.

- :func:`gradient_map`: the image's gradient magnitude (grey, lightly smoothed,
  widened by one pixel so that a boundary drawn one pixel off an edge still
  sees it).
- :func:`edge_support`: does the labelled boundary of a region follow an image
  edge as well as the model's boundary does? A mask dilated by a few pixels
  puts its boundary on flat background, while the model's boundary sits on the
  object's edge: the share falls well under 0.5.
- :func:`thumbnail` / :func:`near_duplicate`: whether two frames show nearly
  the same picture (neighbouring frames of a video or a scan), so that one's
  label can be asked about the other's region (:func:`neighbour_support`).

Plain numpy + OpenCV; every value is in [0, 1] or NaN when there is no evidence.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

__all__ = ["NEAR_DUPLICATE_DIFF", "THUMB_SIZE", "edge_support", "gradient_map", "near_duplicate",
           "neighbour_support", "thumbnail"]

#: Thumbnails compared for near-duplicates are this many pixels a side.
THUMB_SIZE = 32
#: Two frames are near-duplicates when their z-scored thumbnails differ by less than this on average.
#: ``neighbour_support`` compares labels pixel for pixel, so only frames within a few pixels of each other
#: may count: a photo or retina shifted by 2 px differs by 0.02-0.06, two different DRIVE retinas by
#: 0.09-0.3 (median 0.18). The first, provisional 0.25 took 32 of DRIVE's 39 neighbouring pairs for
#: near-duplicates, and their labels cost the review's DRIVE ranking 0.13 of AUROC (docs/adr/0008).
NEAR_DUPLICATE_DIFF = 0.06


def _grey(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3].astype(np.float32).mean(axis=2) if img.shape[2] >= 3 else img[..., 0]
    return img.astype(np.float32, copy=False)


def gradient_map(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude H x W (float32) of the image's grey levels; NaN/Inf pixels count as flat."""
    grey = np.nan_to_num(_grey(image), nan=0.0, posinf=0.0, neginf=0.0)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.dilate(cv2.magnitude(gx, gy), np.ones((3, 3), np.uint8))


def edge_support(gradient: np.ndarray | None, label_edge: np.ndarray, model_edge: np.ndarray) -> float:
    """Share of the image gradient that lies on the labelled boundary: ``gL / (gL + gM)``.

    ``label_edge``/``model_edge``: boolean masks (same shape as ``gradient``) of
    the region's pixels on the labelled boundary and on the model's boundary.
    0.5: both follow edges equally; near 0: the label's boundary lies on flat
    image where the model's follows an edge. NaN without a gradient or either side.
    """
    if gradient is None or not label_edge.any() or not model_edge.any():
        return math.nan
    g_label = float(gradient[label_edge].mean())
    g_model = float(gradient[model_edge].mean())
    total = g_label + g_model
    return g_label / total if total > 0 else math.nan


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A z-scored THUMB_SIZE x THUMB_SIZE grey thumbnail (float32) for near-duplicate tests."""
    grey = np.nan_to_num(_grey(image), nan=0.0, posinf=0.0, neginf=0.0)
    small = cv2.resize(grey, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)
    std = float(small.std())
    return ((small - small.mean()) / (std if std > 1e-6 else 1.0)).astype(np.float32)


def near_duplicate(a: np.ndarray, b: np.ndarray, max_diff: float = NEAR_DUPLICATE_DIFF) -> bool:
    """True when the thumbnails ``a`` and ``b`` (from :func:`thumbnail`) show nearly the same picture."""
    return bool(a.shape == b.shape and float(np.abs(a - b).mean()) < max_diff)


def neighbour_support(neighbour_labels: Sequence[np.ndarray], ys: np.ndarray, xs: np.ndarray,
                      predicted: int) -> float:
    """Share of the region's pixels (``ys``, ``xs``) that near-duplicate neighbours label as ``predicted``.

    High: the neighbours agree with the model, not with this label. NaN without neighbours.
    """
    shares = [float((lab[ys, xs] == predicted).mean()) for lab in neighbour_labels if ys.size]
    return float(np.mean(shares)) if shares else math.nan
