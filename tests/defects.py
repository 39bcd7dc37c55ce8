"""Build small datasets with one known defect each, from scratch (tests of the checker and fixes).

Every builder writes under a folder the test gives (``tmp_path``) and nothing
else. Masks are drawn as blobs (ellipses and rectangles) so that they look like
real labels: compact regions with boundaries, not noise.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fcnstudio.core.io import default_colors

VOC_PALETTE = [v for c in default_colors(256) for v in c]


def blobs(h: int = 64, w: int = 80, values=(1,), seed: int = 0, background: int = 0, dtype=np.uint8) -> np.ndarray:
    """A mask of ``background`` with a few ellipses/rectangles of each value in ``values``."""
    rng = np.random.default_rng(seed)
    m = np.full((h, w), background, np.int32)
    for v in values:
        for _ in range(2):
            cx, cy = int(rng.integers(w // 6, w - w // 6)), int(rng.integers(h // 6, h - h // 6))
            ax, ay = int(rng.integers(w // 12 + 2, w // 4 + 3)), int(rng.integers(h // 12 + 2, h // 4 + 3))
            if rng.random() < 0.5:
                cv2.ellipse(m, (cx, cy), (ax, ay), float(rng.integers(0, 180)), 0, 360, int(v), -1)
            else:
                cv2.rectangle(m, (cx - ax, cy - ay), (cx + ax, cy + ay), int(v), -1)
    return m.astype(dtype)


def image_like(mask: np.ndarray, channels: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A textured image of the mask's size (not constant, so no constant-image finding)."""
    rng = np.random.default_rng(seed + 1000)
    h, w = mask.shape[:2]
    top = 65535 if dtype == np.uint16 else 255
    base = rng.integers(0, top // 2, (h, w) if channels == 1 else (h, w, channels))
    m2 = mask if mask.ndim == 2 else mask[..., 0]
    shade = (m2.astype(np.int64) % 7 * (top // 16))
    if channels != 1:
        shade = shade[..., None]
    return np.clip(base + shade, 0, top).astype(dtype)


def save(path: Path, arr: np.ndarray, how: str | None = None, quality: int = 90) -> Path:
    """Write ``arr`` the way people do: by extension, or ``how`` = "palette" / "L" / "jpeg-q".

    - ``.png``: grey (L) or 16-bit for 2-D arrays, RGB(A) for 3-D; ``how="palette"``
      writes a VOC-palette (mode P) PNG.
    - ``.jpg``: OpenCV JPEG at ``quality``.
    - ``.tif``: OpenCV TIFF (keeps float32/float64/uint16).
    - ``.gif``: Pillow, grey.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if how == "palette":
        img = Image.fromarray(arr.astype(np.uint8), mode="P")
        img.putpalette(VOC_PALETTE)
        img.save(path)
    elif ext == ".png":
        if arr.ndim == 3 and arr.dtype == np.uint16:
            order = [2, 1, 0, 3][: arr.shape[2]]
            cv2.imwrite(str(path), np.ascontiguousarray(arr[..., order]))
        elif arr.ndim == 3:
            Image.fromarray(arr).save(path)
        else:
            cv2.imwrite(str(path), arr)
    elif ext in (".jpg", ".jpeg"):
        out = arr[..., ::-1] if arr.ndim == 3 else arr
        cv2.imwrite(str(path), np.ascontiguousarray(out), [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif ext in (".tif", ".tiff"):
        out = arr[..., ::-1] if arr.ndim == 3 and arr.shape[2] == 3 else arr
        cv2.imwrite(str(path), np.ascontiguousarray(out))
    elif ext == ".gif":
        # A full grey palette (optimize=False), as in DRIVE: Pillow reads it back as mode L.
        Image.fromarray(arr.astype(np.uint8), mode="L").save(path, optimize=False)
    elif ext == ".bmp":
        cv2.imwrite(str(path), arr)
    else:
        raise ValueError(ext)
    return path


def make_dataset(
    root: Path,
    masks: dict,
    *,
    mask_ext: str = ".png",
    image_ext: str = ".png",
    images: dict | None = None,
    how: str | None = None,
) -> Path:
    """``root/images/<stem><image_ext>`` + ``root/masks/<stem><mask_ext>`` for each stem of ``masks``.

    ``masks[stem]`` is an array (saved with :func:`save`) or ``(array, ext)``
    or ``(array, ext, how)``; ``images[stem]`` an array to use instead of a
    generated image, or None for no image at all.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    images = images or {}
    for i, (stem, spec) in enumerate(masks.items()):
        arr, ext, h = spec if isinstance(spec, tuple) and len(spec) == 3 else (
            (*spec, how) if isinstance(spec, tuple) else (spec, mask_ext, how)
        )
        if arr is not None:
            save(root / "masks" / f"{stem}{ext}", arr, h)
        if stem in images and images[stem] is None:
            continue
        img = images.get(stem)
        if img is None:
            img = image_like(arr if arr is not None else np.zeros((64, 80), np.uint8), seed=i)
        save(root / "images" / f"{stem}{image_ext}", img)
    return root


def binary_masks(n: int = 4, h: int = 64, w: int = 80, top: int = 1, seed: int = 0) -> dict:
    """``n`` two-class masks with foreground value ``top`` (1 or 255)."""
    return {f"case{i:02d}": blobs(h, w, values=(top,), seed=seed + i) for i in range(n)}


def index_masks(n: int = 4, classes: int = 4, h: int = 64, w: int = 80, seed: int = 0) -> dict:
    """``n`` masks using every class 1..classes-1 on background 0 (all classes present overall)."""
    return {f"case{i:02d}": blobs(h, w, values=tuple(range(1, classes)), seed=seed + i) for i in range(n)}


def to_rgb(mask: np.ndarray) -> np.ndarray:
    """Index mask → VOC-coloured RGB (how colour masks are usually made)."""
    pal = np.asarray(default_colors(256), np.uint8)
    return pal[mask]


def to_luminance(mask: np.ndarray) -> np.ndarray:
    """What ``cv2.imread(palette_png, IMREAD_GRAYSCALE)`` gives for a VOC palette mask."""
    return cv2.cvtColor(to_rgb(mask)[..., ::-1].copy(), cv2.COLOR_BGR2GRAY)


def voc_style(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Add 255 void bands of ``width`` pixels along every class border (Pascal VOC style)."""
    edges = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    if width > 1:
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((width, width), np.uint8)) > 0
    out = mask.copy()
    out[edges] = 255
    return out


def resized(mask: np.ndarray, scale: float = 0.6, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.resize(mask, None, fx=scale, fy=scale, interpolation=interpolation)
