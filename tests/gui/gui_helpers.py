"""Helpers for the window tests: a tiny dataset on disk and synthetic mouse input."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication

from fcnstudio.core.io import default_colors

COLORS = [(0, 0, 0), (200, 40, 40), (40, 200, 40)]
H, W = 40, 60


def save_palette_png(path, mask, colors=COLORS):
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    table = default_colors(256)
    table[: len(colors)] = colors
    img.putpalette([v for c in table for v in c])
    img.save(path)


def make_dataset(root, *, project=True):
    """images/ + masks/: a (grey, class 1 block), b (RGB, empty mask), c (no mask yet)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W), np.uint8)).save(root / "images" / "a.png")
    Image.fromarray(rng.integers(0, 255, (H, W, 3), np.uint8)).save(root / "images" / "b.png")
    Image.fromarray(rng.integers(0, 255, (H, W), np.uint8)).save(root / "images" / "c.png")
    mask = np.zeros((H, W), np.uint8)
    mask[20:30, 40:50] = 1
    save_palette_png(root / "masks" / "a.png", mask)
    save_palette_png(root / "masks" / "b.png", np.zeros((H, W), np.uint8))
    if project:
        data = {"version": 1, "classes": [{"name": n, "color": list(c)} for n, c in zip(["background", "cell", "spot"], COLORS)],
                "label_map": {}, "ignore_index": None}
        (root / "fcnstudio.json").write_text(json.dumps(data))
    return root


# ---------------------------------------------------------------------- input helpers


def send_mouse(widget, kind, pos: QPointF, button=Qt.MouseButton.LeftButton, buttons=None, modifiers=None):
    buttons = button if buttons is None else buttons
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                     modifiers or Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(canvas, points, button=Qt.MouseButton.LeftButton):
    """Press at the first image point (pixel centres), move through the others, release at the last."""
    pos = [canvas.to_widget(x + 0.5, y + 0.5) for x, y in points]
    send_mouse(canvas, QMouseEvent.Type.MouseButtonPress, pos[0], button)
    for p in pos[1:]:
        send_mouse(canvas, QMouseEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
    send_mouse(canvas, QMouseEvent.Type.MouseButtonRelease, pos[-1], button, Qt.MouseButton.NoButton)


def click(canvas, x, y, button=Qt.MouseButton.LeftButton):
    drag(canvas, [(x, y)], button)
