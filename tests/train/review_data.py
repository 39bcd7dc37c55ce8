"""A small dataset for the review's tests: grey frames with discs (class 1) and a square (class 2)."""

import json

import cv2
import numpy as np

from fcnstudio.core.io import write_mask

CLASSES = ("background", "disc", "square")


def frames(root, n=12, size=64, seed=0, planted=None, binary_255=False):
    """``n`` frames ``s00``… ; in frame ``planted`` the square is left unlabelled. Returns (root, square boxes)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(seed)
    boxes = {}
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        for _ in range(2):
            cv2.circle(m, (int(rng.integers(10, size - 10)), int(rng.integers(10, size - 10))),
                       int(rng.integers(5, 9)), 1, -1)
        x, y = int(rng.integers(4, size - 12)), int(rng.integers(4, size - 12))
        m[y:y + 8, x:x + 8] = 2
        boxes[f"s{i:02d}"] = (x, y, 8, 8)
        img = (40 + 90 * (m == 1) + 180 * (m == 2) + rng.normal(0, 10, m.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"s{i:02d}.png"), img)
        label = m.copy()
        if i == planted:
            label[m == 2] = 0
        if binary_255:
            cv2.imwrite(str(root / "masks" / f"s{i:02d}.png"), (label > 0).astype(np.uint8) * 255)
        else:
            write_mask(root / "masks" / f"s{i:02d}.png", label)
    if not binary_255:
        (root / "fcnstudio.json").write_text(json.dumps({"classes": list(CLASSES), "ignore_index": None}))
    return root, boxes
