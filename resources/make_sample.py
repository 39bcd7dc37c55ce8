"""Generate the bundled sample dataset (``resources/sample/``), procedurally.

    python resources/make_sample.py            # rewrite resources/sample/
    python resources/make_sample.py --out DIR  # write it somewhere else

Grey, fluorescence-microscopy-like images of 256 x 256 pixels with three
classes: ``background``, ``cell`` (large textured blobs, about a fifth of the
pixels) and ``spot`` (small bright dots, all inside cells, well under 1 % of
the pixels, in most images). Everything comes from one seeded random generator, so running this
twice gives byte-identical files, and the data is ours to license.

Two pairs carry deliberate defects for the checker to find (see
``sample/README.md``): ``cells_07`` has its mask stored as a grey 0/255 PNG
(binary-255), and ``cells_12`` has its mask stored transposed, 240 x 256
against a 256 x 240 image (shape-mismatch, rotated).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

try:
    from fcnstudio.core.io import atomic_write_bytes, write_mask
    from fcnstudio.core.project import ClassInfo, Project, save_project
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fcnstudio.core.io import atomic_write_bytes, write_mask
    from fcnstudio.core.project import ClassInfo, Project, save_project

SEED = 20240607
N_PAIRS = 16
SIZE = 256
#: The pair whose mask is written as a grey 0/255 PNG (no spots in it).
BINARY_255 = 7
#: Pairs with no spots at all (the rare class is in most images, not all).
NO_SPOTS = (5, BINARY_255)
#: The pair whose mask is written transposed (image 256 wide x 240 high).
ROTATED = 12
ROTATED_HEIGHT = 240

#: Spot radius (px) and brightness above the local level (grey values).
SPOT_RADIUS = (1.7, 2.8)
SPOT_GAIN = (80, 110)
#: Spots per image (low, high exclusive) and the share of them centred in a cell.
#: All of them (about 160 grey against about 105 around them): with 3 in 4 in
#: cells and the rest on the background, plain cross-entropy (seed 0, 3 CPU
#: minutes) kept predicting a few spots, around the collapse monitor's 0.1x
#: line; with all of them in cells it predicts none (see sample/README.md).
SPOT_COUNT = (8, 21)
SPOT_IN_CELL = 1.0

CLASSES = (
    ClassInfo("background", (0, 0, 0)),
    ClassInfo("cell", (0, 170, 255)),
    ClassInfo("spot", (255, 60, 60)),
)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise scaled to zero mean, unit standard deviation."""
    field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma,
                             borderType=cv2.BORDER_REFLECT)
    field -= field.mean()
    return field / (field.std() + 1e-6)


def draw_cells(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Irregular ellipses covering 15-24 % of the image.

    Returns the label (0/1) and the "cell body" intensity (0..1, brighter rim,
    darker nucleus) that the image is built from.
    """
    label = np.zeros((h, w), np.uint8)
    body = np.zeros((h, w), np.float32)
    target = rng.uniform(0.15, 0.24)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tries = 0
    while label.mean() < target and tries < 200:
        tries += 1
        a, b = rng.uniform(13, 28), rng.uniform(11, 22)
        cy, cx = rng.uniform(a, h - a), rng.uniform(a, w - a)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / a
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / b
        theta = np.arctan2(v, u)
        wobble = 1.0
        for k in (2, 3, 5):
            wobble = wobble + rng.uniform(0.02, 0.07) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
        r = np.sqrt(u * u + v * v) / wobble
        inside = r < 1.0
        if (label[inside] == 1).mean() > 0.1:  # cells may touch, not pile up
            continue
        label[inside] = 1
        # bright cytoplasm, darker nucleus off-centre
        nu = (u - rng.uniform(-0.25, 0.25)) / 0.45
        nv = (v - rng.uniform(-0.25, 0.25)) / 0.45
        nucleus = np.exp(-(nu * nu + nv * nv) ** 2)
        shade = rng.uniform(0.75, 1.0) * (0.85 + 0.15 * np.clip(r, 0, 1)) * (1 - 0.35 * nucleus)
        body = np.where(inside, np.maximum(body, shade), body)
    return label, body


def draw_spots(rng: np.random.Generator, label: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` small bright dots (radius ``SPOT_RADIUS``), a share ``SPOT_IN_CELL`` of them centred in a cell.

    Returns the spot label (bool) and the spot brightness (0..1).
    """
    h, w = label.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    spot = np.zeros((h, w), bool)
    glow = np.zeros((h, w), np.float32)
    cell_y, cell_x = np.nonzero(label == 1)
    for i in range(n):
        if len(cell_y) and rng.random() < SPOT_IN_CELL:
            j = rng.integers(len(cell_y))
            cy, cx = cell_y[j] + rng.uniform(-0.5, 0.5), cell_x[j] + rng.uniform(-0.5, 0.5)
        else:
            cy, cx = rng.uniform(4, h - 4), rng.uniform(4, w - 4)
        radius = rng.uniform(*SPOT_RADIUS)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        spot |= d2 <= radius * radius
        glow = np.maximum(glow, rng.uniform(0.8, 1.0) * np.exp(-d2 / (2 * (0.8 * radius) ** 2)))
    return spot, glow


def make_pair(rng: np.random.Generator, h: int, w: int, with_spots: bool) -> tuple[np.ndarray, np.ndarray]:
    """One grey uint8 image and its class-index mask (0 background, 1 cell, 2 spot)."""
    cells, body = draw_cells(rng, h, w)
    n_spots = int(rng.integers(*SPOT_COUNT)) if with_spots else 0
    spots, glow = draw_spots(rng, cells, n_spots)
    mask = cells.copy()
    mask[spots] = 2

    # uneven illumination, cell texture, optics blur, spots, then camera noise
    light = 1.0 + 0.25 * smooth_noise(rng, (h, w), 40)
    texture = 1.0 + 0.12 * smooth_noise(rng, (h, w), 1.5)
    background = rng.uniform(22, 40)
    cell_level = rng.uniform(85, 115)
    img = background + 6 * smooth_noise(rng, (h, w), 6) + cell_level * body * texture
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.2, borderType=cv2.BORDER_REFLECT)
    img = img * light + rng.uniform(*SPOT_GAIN) * glow
    img = img * rng.uniform(0.85, 1.1) + rng.normal(0, 5, (h, w))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


def encode_png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("could not encode a sample image as PNG")
    return data.tobytes()


def generate(out: Path, seed: int = SEED) -> dict[str, np.ndarray]:
    """Write the sample to ``out`` (its images/, masks/ and fcnstudio.json are replaced).

    Returns the true class-index mask of every pair (before the defects), by stem.
    """
    out = Path(out)
    for sub in ("images", "masks"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    project = Project(classes=CLASSES, ignore_index=None)
    truth = {}
    for i in range(1, N_PAIRS + 1):
        stem = f"cells_{i:02d}"
        h = ROTATED_HEIGHT if i == ROTATED else SIZE
        image, mask = make_pair(rng, h, SIZE, with_spots=i not in NO_SPOTS)
        truth[stem] = mask
        atomic_write_bytes(out / "images" / f"{stem}.png", encode_png(image))
        if i == BINARY_255:
            # defect: a grey 0/255 mask, as many tools save a two-class mask
            atomic_write_bytes(out / "masks" / f"{stem}.png", encode_png((mask == 1).astype(np.uint8) * 255))
        elif i == ROTATED:
            # defect: the mask was saved transposed (e.g. rotated by an EXIF-aware tool)
            write_mask(out / "masks" / f"{stem}.png", np.ascontiguousarray(mask.T), project.colors)
        else:
            write_mask(out / "masks" / f"{stem}.png", mask, project.colors)
    save_project(out, project)
    return truth


def class_fractions(truth: dict[str, np.ndarray], n_classes: int = len(CLASSES)) -> np.ndarray:
    counts = sum(np.bincount(m.ravel(), minlength=n_classes) for m in truth.values())
    return counts / counts.sum()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample",
                        help="dataset folder to write (default: resources/sample next to this script)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    truth = generate(args.out, args.seed)
    fractions = class_fractions(truth)
    with_spots = sum(int((m == 2).any()) for m in truth.values())
    print(f"wrote {len(truth)} pairs to {args.out}")
    for info, f in zip(CLASSES, fractions):
        print(f"  {info.name:<10} {100 * f:6.2f} % of pixels")
    print(f"  spot present in {with_spots} of {len(truth)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
