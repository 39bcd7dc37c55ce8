"""Real-looking multi-class masks for the checker's tests: regions of several classes with curved borders.

A street scene or a parsed person is a partition of the image into regions
whose borders are curves, with many different class pairs meeting. Built as a
noisy Voronoi partition (distance to random seeds, perturbed by smooth noise),
plus a few small specks (label noise) of other classes.
"""

from __future__ import annotations

import cv2
import numpy as np


def scene(h: int = 160, w: int = 208, classes=tuple(range(8)), seed: int = 0, regions: int = 14, specks: int = 6) -> np.ndarray:
    """An index mask (uint8) of ``regions`` curved regions, each of a class drawn from ``classes``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 12)
    noise *= 25 / max(1e-6, float(noise.std()))
    cy, cx = rng.uniform(0, h, regions), rng.uniform(0, w, regions)
    gain = rng.uniform(0.5, 1.5, regions).astype(np.float32)
    dist = np.stack([np.hypot(yy - y, xx - x) + noise * g for y, x, g in zip(cy, cx, gain)])
    labels = np.asarray(classes)[np.arange(regions) % len(classes)]
    rng.shuffle(labels)
    m = labels[np.argmin(dist, 0)].astype(np.uint8)
    for _ in range(specks):
        y, x = int(rng.integers(4, h - 4)), int(rng.integers(4, w - 4))
        cv2.circle(m, (x, y), int(rng.integers(2, 4)), int(rng.choice(classes)), -1)
    return m


def jpeg_roundtrip(mask: np.ndarray, quality: int) -> np.ndarray:
    """What a mask looks like after it was saved as JPEG once and read back (then saved as PNG)."""
    ok, buf = cv2.imencode(".jpg", mask, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
