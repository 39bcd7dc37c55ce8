"""Grey masks holding the brightnesses of a public palette (or the dataset's own) are colour masks; the fix maps them back."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import cv2
import numpy as np
import pytest

from defects import binary_masks, blobs, index_masks, make_dataset
from fcnstudio.core.checker import palettes
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.fixes import apply_fix, plan_fix
from fcnstudio.core.io import read_mask_file


def check(root):
    return check_dataset(root, workers=1)


def fix(root, code):
    return apply_fix(plan_fix(check(root), code))


def scene(classes, background, seed, h=96, w=128, void_border=False):
    """An index mask: objects of ``classes`` on ``background``, small far-away objects, and void borders if asked."""
    m = blobs(h, w, values=classes, seed=seed, background=background).astype(np.int32)
    rng = np.random.default_rng(seed + 50)
    for _ in range(6):  # small objects (a far-away sign, a pole), 3..6 px
        y, x = int(rng.integers(4, h - 8)), int(rng.integers(4, w - 8))
        s = int(rng.integers(3, 7))
        m[y : y + s, x : x + s] = int(rng.choice(classes))
    if void_border:
        edges = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        m[edges] = 255
    return m.astype(np.uint8)


def render(palette, index):
    """Index mask → the palette's colour rendering (void 255 → the palette's void colour)."""
    table = np.zeros((256, 3), np.uint8)
    for i, (_, rgb) in enumerate(palette.classes):
        table[i] = rgb
    if palette.void is not None:
        table[255] = palette.void
    return table[index]


def grey(rgb, how="opencv"):
    """What people get reading a colour mask as grey: OpenCV (BT.601) or scikit-image rgb2gray (BT.709)."""
    if how == "opencv":
        return cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2GRAY)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return np.round(0.2125 * r + 0.7154 * g + 0.0721 * b).astype(np.uint8)


def names(palette, *wanted):
    lookup = {n: i for i, (n, _) in enumerate(palette.classes)}
    return tuple(lookup[n] for n in wanted)


CASES = [
    (palettes.CITYSCAPES_19, ("road", "sidewalk", "building", "vegetation", "sky", "car", "person"), None, "opencv"),
    (palettes.CITYSCAPES_34, ("road", "sidewalk", "parking", "building", "sky", "car", "dynamic"), "unlabeled", "opencv"),
    (palettes.CAMVID_11, ("Sky", "Building", "Road", "Pavement", "Tree", "Car", "Pedestrian"), "Unlabelled", "opencv"),
    (palettes.CAMVID_32, ("Sky", "Building", "Road", "Sidewalk", "Child", "Archway", "Animal"), "Void", "opencv"),
    (palettes.ADE20K_20, ("wall", "floor", "ceiling", "bed", "windowpane", "cabinet", "curtain"), "other", "opencv"),
    (palettes.CITYSCAPES_19, ("road", "building", "vegetation", "sky", "car", "terrain"), None, "skimage"),
]


@pytest.mark.parametrize("palette, classes, background, how", CASES, ids=lambda c: getattr(c, "label", str(c)))
def test_grey_public_palette_is_color_mask_and_fix_maps_back(tmp_path, palette, classes, background, how):
    cls = names(palette, *classes)
    bg = 255 if background is None else names(palette, background)[0]
    index = {f"frame{i:02d}": scene(cls, bg, seed=i, void_border=palette.void is not None) for i in range(4)}
    root = make_dataset(tmp_path / "ds", {k: grey(render(palette, v), how) for k, v in index.items()})

    result = check(root)
    assert result.files_with("color-mask") == [f"masks/{k}.png" for k in index]
    msg = result.by_code("color-mask")[0].message
    assert palette.label in msg and "brightnesses" in msg
    assert "label-out-of-range" not in result.codes()
    assert result.project.class_names[: len(palette.classes)] == [n for n, _ in palette.classes]

    fix(root, "color-mask")
    for k, v in index.items():
        np.testing.assert_array_equal(read_mask_file(root / "masks" / f"{k}.png").array, v)
    after = check(root)
    assert not [f for f in after.findings if f.severity == "error"], [f.message for f in after.findings]
    assert after.project.class_names[cls[0]] == classes[0]


def test_grey_masks_in_the_palette_of_the_datasets_own_colour_masks(tmp_path):
    own = {1: (255, 128, 0), 2: (30, 200, 90), 3: (200, 30, 200), 4: (90, 90, 255)}
    table = np.zeros((256, 3), np.uint8)
    for i, c in own.items():
        table[i] = c
    index = {f"img{i}": scene((1, 2, 3, 4), 0, seed=10 + i) for i in range(4)}
    masks = {k: (table[v] if i < 2 else grey(table[v])) for i, (k, v) in enumerate(index.items())}
    root = make_dataset(tmp_path / "ds", masks)

    result = check(root)
    assert result.files_with("color-mask") == [f"masks/{k}.png" for k in index]
    grey_msgs = [f.message for f in result.by_code("color-mask") if f.data.get("kind") == "luminance"]
    assert len(grey_msgs) == 2 and all("the dataset's own colour masks" in m for m in grey_msgs)

    fix(root, "color-mask")
    fixed = {k: read_mask_file(root / "masks" / f"{k}.png").array for k in index}
    for k, v in index.items():  # one class per colour, the same in colour and grey masks
        for c in own:
            assert len(np.unique(fixed[k][v == c])) == 1
    colour_of = {int(np.unique(fixed["img0"][index["img0"] == c])[0]): c for c in own}
    for k in ("img2", "img3"):
        for c in own:
            assert colour_of[int(np.unique(fixed[k][index[k] == c])[0])] == c
    assert not [f for f in check(root).findings if f.severity == "error"]


@pytest.mark.parametrize("masks", [
    index_masks(n=4, classes=8, h=96, w=120),  # 0..7 index masks, like ccp8
    binary_masks(n=4),  # 0/1
    {f"m{i}": blobs(64, 80, values=(50, 100, 150, 200), seed=i) for i in range(3)},  # index × 50
    {f"m{i}": blobs(64, 80, values=(20, 40, 60), seed=i) for i in range(3)},
], ids=["index-0-7", "binary-0-1", "index-times-50", "index-times-20"])
def test_plain_index_masks_are_not_palette_brightnesses(tmp_path, masks):
    assert "color-mask" not in check(make_dataset(tmp_path / "ds", masks)).codes()


def test_binary_255_stays_binary_255(tmp_path):
    result = check(make_dataset(tmp_path / "ds", binary_masks(n=4, top=255)))
    assert "binary-255" in result.codes() and "color-mask" not in result.codes()


def test_palette_colours_are_the_official_ones():
    # Spot checks against the sources named in the module doc.
    assert dict(palettes.CITYSCAPES_19.classes)["road"] == (128, 64, 128)
    assert palettes.CITYSCAPES_19.classes[18] == ("bicycle", (119, 11, 32))
    assert len(palettes.CITYSCAPES_34.classes) == 34 and palettes.CITYSCAPES_34.classes[26] == ("car", (0, 0, 142))
    assert len(palettes.CAMVID_32.classes) == 32 and palettes.CAMVID_32.classes[30] == ("Void", (0, 0, 0))
    assert palettes.CAMVID_11.classes[4] == ("Pavement", (60, 40, 222))
    assert palettes.ADE20K_20.classes[1] == ("wall", (120, 120, 120))
