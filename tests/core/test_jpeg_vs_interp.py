"""A PNG mask that once went through JPEG is lossy-mask; a mask resized with a smooth filter is interpolation-artifacts.

Both leave values that are not classes near class edges. JPEG rings up to ~8 px
from edges, with values on both sides of the class values, in 8x8 blocks; a
resize leaves monotone in-between values only on the borders. The message says
which evidence decided.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import cv2
import numpy as np
import pytest

from defects import make_dataset
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.fixes import apply_fix, plan_fix
from fcnstudio.core.io import read_mask_file
from scenes import jpeg_roundtrip, scene

BINARY = (0, 255)
SPACED = (0, 3, 8, 12, 20)  # road = 3, car = 8 ...: in-between values are no class
CONSECUTIVE = tuple(range(8))  # every in-between value is a class
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}


def check(root):
    return check_dataset(root, workers=1)


def codes_for(result, path):
    return {f.code for f in result.findings if path in f.files}


def finding(result, code, path):
    return next(f for f in result.by_code(code) if path in f.files)


def dataset(tmp_path, classes, damaged: dict):
    masks = {f"clean{i}": scene(classes=classes, seed=40 + i) for i in range(2)}
    masks.update(damaged)
    return make_dataset(tmp_path / "ds", masks)


def checked(tmp_path, classes, damaged: dict, found: str, not_found: str):
    """Check a dataset of two clean masks and the ``damaged`` ones; each damaged mask has ``found``, not ``not_found``."""
    result = check(dataset(tmp_path, classes, damaged))
    for stem in damaged:
        codes = codes_for(result, f"masks/{stem}.png")
        assert found in codes and not_found not in codes, (stem, codes)
    return result


@pytest.mark.parametrize("classes", [BINARY, SPACED], ids=["binary", "multiclass"])
@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_png_after_jpeg_is_lossy_not_interpolation(tmp_path, classes, quality):
    damaged = {f"jpeg{i}": jpeg_roundtrip(scene(classes=classes, seed=i), quality) for i in range(2)}
    result = checked(tmp_path, classes, damaged, "lossy-mask", "interpolation-artifacts")
    f = finding(result, "lossy-mask", "masks/jpeg0.png")
    assert f.severity == "error"
    assert "from edges" in f.message or "8x8 block structure" in f.message
    assert not {"lossy-mask", "interpolation-artifacts"} & codes_for(result, "masks/clean0.png")


@pytest.mark.parametrize("quality", [75, 90, 95])
def test_png_after_jpeg_with_consecutive_classes_is_lossy(tmp_path, quality):
    """Classes 0..7: JPEG's in-between values are classes too, so the bands it leaves must not read as a resize."""
    damaged = {f"jpeg{i}": jpeg_roundtrip(scene(classes=CONSECUTIVE, seed=i), quality) for i in range(2)}
    result = checked(tmp_path, CONSECUTIVE, damaged, "lossy-mask", "interpolation-artifacts")
    assert "8x8 block structure" in finding(result, "lossy-mask", "masks/jpeg0.png").message


@pytest.mark.parametrize("classes", [BINARY, SPACED, CONSECUTIVE], ids=["binary", "spaced", "consecutive"])
@pytest.mark.parametrize("interp", INTERPOLATIONS.values(), ids=INTERPOLATIONS.keys())
@pytest.mark.parametrize("scale", [0.7, 1.6])
def test_smooth_resize_is_interpolation_not_lossy(tmp_path, classes, interp, scale):
    damaged = {f"resized{i}": cv2.resize(scene(classes=classes, seed=i), None, fx=scale, fy=scale, interpolation=interp)
               for i in range(2)}
    result = checked(tmp_path, classes, damaged, "interpolation-artifacts", "lossy-mask")
    f = finding(result, "interpolation-artifacts", "masks/resized0.png")
    assert f.severity == "warning"
    assert "monotone in-between values only on borders" in f.message
    assert "8x8 block" not in f.message


def test_lossy_fix_then_check_is_clean(tmp_path):
    classes = BINARY
    truth = scene(classes=classes, seed=3)
    root = dataset(tmp_path, classes, {"jpeg": jpeg_roundtrip(truth, 80)})
    apply_fix(plan_fix(check(root), "lossy-mask"), backup=False)
    after = check(root)
    assert not {"lossy-mask", "interpolation-artifacts"} & after.codes()
    fixed = read_mask_file(root / "masks" / "jpeg.png").array
    assert set(np.unique(fixed)) <= set(classes)
    assert (fixed == truth).mean() > 0.97
