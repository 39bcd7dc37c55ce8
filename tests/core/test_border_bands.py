"""Multi-class index masks resized with a smooth filter: thin bands of in-between classes along borders.

Between road = 3 and car = 8 a linear resize leaves 4..7: every one a valid
class, so nothing is out of range; the checker reports the bands as
interpolation-artifacts, the fix repairs them, and real thin structures are
left alone.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import cv2
import numpy as np
import pytest

from defects import blobs, make_dataset, voc_style
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.fixes import apply_fix, plan_fix
from fcnstudio.core.io import read_mask_file
from scenes import scene

CLASSES = tuple(range(8))


def check(root):
    return check_dataset(root, workers=1)


def codes_for(result, path):
    return {f.code for f in result.findings if path in f.files}


def scenes(n=4, seed=0, **kw):
    return {f"case{i:02d}": scene(seed=seed + i, **kw) for i in range(n)}


def smooth(mask, scale, interpolation):
    return cv2.resize(mask, None, fx=scale, fy=scale, interpolation=interpolation)


@pytest.mark.parametrize("interp", [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA])
@pytest.mark.parametrize("scale", [0.7, 1.6])
def test_smoothly_resized_multiclass_masks_are_reported(tmp_path, interp, scale):
    masks = scenes(n=3)
    masks["case00"] = smooth(masks["case00"], scale, interp)
    masks["case01"] = smooth(masks["case01"], scale, interp)
    result = check(make_dataset(tmp_path / "ds", masks))
    for stem in ("case00", "case01"):
        assert "interpolation-artifacts" in codes_for(result, f"masks/{stem}.png")
        assert "lossy-mask" not in codes_for(result, f"masks/{stem}.png")
        assert "label-out-of-range" not in codes_for(result, f"masks/{stem}.png")  # every in-between value is a class
    assert not codes_for(result, "masks/case02.png")
    f = next(f for f in result.by_code("interpolation-artifacts") if "masks/case00.png" in f.files)
    assert f.severity == "warning"
    assert "% of the border pixels" in f.message and "monotone in-between values only on borders" in f.message


def test_road_and_car_bands_between_them(tmp_path):
    m = np.full((120, 200), 3, np.uint8)  # road
    for i, x in enumerate(range(20, 180, 40)):  # cars, bicycles, poles, people: several borders
        cv2.ellipse(m, (x, 60), (14, 22), 10 * i, 0, 360, (8, 6, 1, 0)[i], -1)
    r = smooth(m, 1.5, cv2.INTER_LINEAR)
    assert set(np.unique(r)) <= set(range(9))
    result = check(make_dataset(tmp_path / "ds", {"street": r, "other": scene(seed=5, classes=range(9))}))
    (f,) = result.by_code("interpolation-artifacts")
    assert f.files == ("masks/street.png",)
    assert "3|8" in f.message


def test_fix_repairs_the_bands_and_the_check_after_is_clean(tmp_path):
    clean = scenes(n=3, seed=10)
    masks = {k: smooth(v, 1.6, cv2.INTER_LINEAR) for k, v in clean.items()}
    root = make_dataset(tmp_path / "ds", masks)
    plan = plan_fix(check(root), "interpolation-artifacts")
    assert len(plan.files) == 3
    apply_fix(plan, backup=False)
    after = check(root)
    assert "interpolation-artifacts" not in after.codes()
    assert not [f for f in after.findings if f.severity in ("error", "warning")]
    for k, v in clean.items():
        fixed = read_mask_file(root / "masks" / f"{k}.png").array
        nearest = smooth(v, 1.6, cv2.INTER_NEAREST)
        assert (fixed == nearest).mean() > 0.97  # the class regions are back where they were


def test_nearest_resized_and_clean_multiclass_masks_are_not_reported(tmp_path):
    masks = scenes(n=4, seed=20)
    masks["case00"] = smooth(masks["case00"], 0.7, cv2.INTER_NEAREST)
    masks["case01"] = smooth(masks["case01"], 1.6, cv2.INTER_NEAREST)
    result = check(make_dataset(tmp_path / "ds", masks))
    assert not {"interpolation-artifacts", "lossy-mask"} & result.codes()


def test_thin_vessels_on_background_are_not_bands(tmp_path):
    masks = {}
    for i in range(3):
        m = np.zeros((128, 160), np.uint8)
        rng = np.random.default_rng(i)
        for _ in range(12):  # 1-px vessels 1 on background 0, crossing an organ 2
            p = rng.integers(0, 160, 4)
            cv2.line(m, (int(p[0]), 0), (int(p[1]), 127), 1, 1)
        cv2.ellipse(m, (80, 64), (30, 20), 0, 0, 360, 2, -1)
        masks[f"case{i}"] = m
    assert not {"interpolation-artifacts", "lossy-mask"} & check(make_dataset(tmp_path / "ds", masks)).codes()


def test_real_thin_class_between_its_neighbours_is_not_bands(tmp_path):
    masks = {}
    for i in range(4):  # membrane 1 (2 px) around every nucleus 2 on background 0: thin everywhere, a real class
        m = np.zeros((128, 160), np.uint8)
        rng = np.random.default_rng(i)
        for _ in range(6):
            c, ax = (int(rng.integers(20, 140)), int(rng.integers(20, 108))), (int(rng.integers(8, 16)), int(rng.integers(8, 14)))
            cv2.ellipse(m, c, ax, 0, 0, 360, 1, -1)
            cv2.ellipse(m, c, (ax[0] - 2, ax[1] - 2), 0, 0, 360, 2, -1)
        masks[f"case{i}"] = m
    assert not {"interpolation-artifacts", "lossy-mask"} & check(make_dataset(tmp_path / "ds", masks)).codes()


def test_voc_void_bands_are_not_in_between(tmp_path):
    masks = {f"case{i}": voc_style(blobs(120, 160, values=(1, 2, 3, 4, 5), seed=i)) for i in range(4)}
    result = check(make_dataset(tmp_path / "ds", masks, how="palette"))
    assert not {"interpolation-artifacts", "lossy-mask"} & result.codes()
