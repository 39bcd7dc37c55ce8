"""Build a small nnU-Net v2 raw dataset from scratch (tests of dataset.json): imagesTr/, labelsTr/, dataset.json.

Cases look like CT slices: a noisy grey body with an organ (label 1) and,
inside it, a small lesion (label 2); each case has one file per channel
(``CASE_0000.png``, ``CASE_0001.png``, …) or one RGB file.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

LABELS = {"background": 0, "liver": 1, "tumour": 2}


def case_mask(seed: int, h: int = 96, w: int = 112) -> np.ndarray:
    """Background 0, a liver-like ellipse 1, a lesion 2 inside it (jittered borders)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    cx, cy = int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3))
    cv2.ellipse(m, (cx, cy), (int(rng.integers(20, 30)), int(rng.integers(14, 22))), float(rng.integers(0, 180)), 0, 360, 1, -1)
    cv2.circle(m, (cx + int(rng.integers(-6, 7)), cy + int(rng.integers(-4, 5))), int(rng.integers(4, 8)), 2, -1)
    return m


def case_image(mask: np.ndarray, seed: int, channels: int = 1) -> np.ndarray:
    """A noisy grey 'scan' where the organ is brighter and the lesion darker."""
    rng = np.random.default_rng(seed + 100)
    base = np.where(mask == 1, 150, np.where(mask == 2, 90, 60)).astype(np.float64)
    img = np.clip(cv2.GaussianBlur(base, (5, 5), 0) + rng.normal(0, 12, mask.shape), 0, 255).astype(np.uint8)
    return img if channels == 1 else np.dstack([img] * channels)


def make_nnunet(root: Path, n: int = 4, *, labels=None, channel_names=None, files_per_case: int = 1,
                rgb: bool = False, masks: dict | None = None) -> Path:
    """``root`` as an nnU-Net raw dataset; ``masks[i]`` replaces case i's generated mask."""
    root = Path(root)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"liver_{i:03d}"
        mask = (masks or {}).get(i, case_mask(i))
        cv2.imwrite(str(root / "labelsTr" / f"{name}.png"), mask)
        for k in range(files_per_case):
            img = case_image(mask, i * 10 + k, 3 if rgb else 1)
            cv2.imwrite(str(root / "imagesTr" / f"{name}_{k:04d}.png"), img)
    if channel_names is None:
        channel_names = {"0": "R", "1": "G", "2": "B"} if rgb else {str(k): f"CT{k}" for k in range(files_per_case)}
    data = {"channel_names": channel_names, "labels": labels if labels is not None else LABELS,
            "numTraining": n, "file_ending": ".png"}
    (root / "dataset.json").write_text(json.dumps(data, indent=2))
    return root
