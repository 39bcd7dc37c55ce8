"""The fixes: pixels before and after, the backup on disk, and the finding gone on a re-check."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import json
import os

import cv2
import numpy as np
import pytest

from defects import binary_masks, blobs, index_masks, make_dataset, resized, save, to_luminance, to_rgb, voc_style
from fcnstudio.core.checker import encodings as enc
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.fix_transforms import (
    FixRefused,
    binary_to_index,
    colors_to_index,
    fill_from_neighbours,
    luminance_to_index,
    round_float,
    snap_to_values,
)
from fcnstudio.core.fixes import FixError, apply_fix, plan_fix
from fcnstudio.core.io import read_mask_file


def check(root):
    return check_dataset(root, workers=1)


def backups(root):
    base = root / ".fcnstudio" / "backup"
    return sorted(base.iterdir()) if base.exists() else []


def fix(root, code, backup=True):
    plan = plan_fix(check(root), code)
    return plan, apply_fix(plan, backup=backup)


# ---------------------------------------------------------------- pure transforms


def test_binary_to_index_pure():
    m = np.array([[0, 255], [255, 0]], np.uint8)
    np.testing.assert_array_equal(binary_to_index(m), [[0, 1], [1, 0]])
    noisy = np.array([[3, 250, 128, 127]], np.uint8)
    np.testing.assert_array_equal(binary_to_index(noisy), [[0, 1, 1, 0]])
    np.testing.assert_array_equal(binary_to_index(np.array([[0, 65535]], np.uint16)), [[0, 1]])


def test_snap_to_values_pure():
    m = np.array([[0, 1, 7, 8, 250, 255]], np.uint8)
    np.testing.assert_array_equal(snap_to_values(m, [0, 15, 255]), [[0, 0, 0, 15, 255, 255]])


def test_fill_from_neighbours_takes_the_local_majority():
    m = np.zeros((5, 7), np.uint8)
    m[:, 4:] = 200
    m[:, 3] = 100  # a ramp column between 0 and 200
    m[0, 0] = 37  # an isolated stray value inside class 0
    out = fill_from_neighbours(m, [0, 200])
    assert set(np.unique(out)) == {0, 200}
    assert out[0, 0] == 0 and (out[:, :3] == 0).all() and (out[:, 4:] == 200).all()


def test_round_float_refuses_soft_masks():
    np.testing.assert_array_equal(round_float(np.array([[0.0, 1.0004]], np.float32)), [[0, 1]])
    assert round_float(np.array([[0.0, 1.0]])).dtype == np.uint8
    with pytest.raises(FixRefused, match="threshold"):
        round_float(np.array([[0.0, 0.4]], np.float32))
    with pytest.raises(FixRefused):
        round_float(np.array([[np.nan, 1.0]]))


def test_colors_to_index_exact_and_nearest():
    cmap = {enc.pack((0, 0, 0)): 0, enc.pack((128, 0, 0)): 1}
    rgb = np.array([[[0, 0, 0], [128, 0, 0], [120, 3, 2]]], np.uint8)
    np.testing.assert_array_equal(colors_to_index(rgb, cmap), [[0, 1, 1]])


def test_luminance_to_index_voc():
    idx = np.array([[0, 15, 9, 255]], np.uint8)
    grey = to_luminance(idx)
    table = dict(enc.LUMINANCE_TABLES)[enc.LUMINANCE_TABLES[0][0]]
    np.testing.assert_array_equal(luminance_to_index(grey, table), idx)


# ---------------------------------------------------------------- each fix on disk


def test_binary_255_fix(tmp_path):
    masks = binary_masks(n=3, top=255)
    root = make_dataset(tmp_path / "ds", masks)
    before = (root / "masks" / "case01.png").read_bytes()
    plan, report = fix(root, "binary-255")
    assert len(plan.writes) == 3
    assert plan.files[1].changed == int((masks["case01"] == 255).sum())
    after = read_mask_file(root / "masks" / "case01.png")
    np.testing.assert_array_equal(after.array, (masks["case01"] == 255).astype(np.uint8))
    assert after.mode == "P"  # palette PNG with class colours
    (bdir,) = backups(root)
    assert report.backup_dir == bdir
    assert (bdir / "masks" / "case01.png").read_bytes() == before
    assert "binary-255" not in check(root).codes()


def test_a_write_protected_mask_is_left_alone_and_named(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3, top=255))
    locked = root / "masks" / "case01.png"
    before = locked.read_bytes()
    os.chmod(locked, 0o444)
    try:
        plan, report = fix(root, "binary-255")
        [refused] = [f for f in plan.files if f.refused]
        assert refused.path == "masks/case01.png" and "write-protected" in refused.refused
        assert len(plan.writes) == 2 and "masks/case01.png" not in report.written
        assert locked.read_bytes() == before  # even for root, who could write it
    finally:
        os.chmod(locked, 0o644)


def test_binary_255_fix_gif_becomes_png(tmp_path):
    masks = binary_masks(n=2, top=255)
    root = make_dataset(tmp_path / "ds", masks, mask_ext=".gif")
    plan, report = fix(root, "binary-255")
    assert plan.files[0].target == "masks/case00.png"
    assert not (root / "masks" / "case00.gif").exists()
    assert (backups(root)[0] / "masks" / "case00.gif").exists()
    np.testing.assert_array_equal(read_mask_file(root / "masks" / "case00.png").array, masks["case00"] // 255)
    result = check(root)
    assert result.codes() == set() and len(result.dataset.complete_pairs) == 2


def test_dry_run_writes_nothing(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2, top=255))
    stamp = {p: p.stat().st_mtime_ns for p in (root / "masks").iterdir()}
    plan = plan_fix(check(root), "binary-255")
    assert plan.files and all(f.changed > 0 for f in plan.files)
    assert {p: p.stat().st_mtime_ns for p in (root / "masks").iterdir()} == stamp
    assert not (root / ".fcnstudio").exists()


def test_no_backup(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2, top=255))
    _, report = fix(root, "binary-255", backup=False)
    assert report.backup_dir is None and backups(root) == []
    assert len(report.written) == 2


def test_color_mask_fix_saves_label_map(tmp_path):
    masks = index_masks(n=3, classes=3)
    root = make_dataset(tmp_path / "ds", {k: to_rgb(v) for k, v in masks.items()})
    plan, report = fix(root, "color-mask")
    assert plan.saves_project and report.project_file == root / "fcnstudio.json"
    for k, v in masks.items():
        np.testing.assert_array_equal(read_mask_file(root / "masks" / f"{k}.png").array, v)
    data = json.loads((root / "fcnstudio.json").read_text())
    assert data["label_map"]["#800000"] == 1
    assert (backups(root)[0] / "masks" / "case00.png").exists()
    assert "color-mask" not in check(root).codes()


def test_color_mask_fix_luminance(tmp_path):
    masks = {k: voc_style(v) for k, v in index_masks(n=3, classes=5, h=96, w=120).items()}
    root = make_dataset(tmp_path / "ds", {k: to_luminance(v) for k, v in masks.items()})
    fix(root, "color-mask")
    for k, v in masks.items():
        np.testing.assert_array_equal(read_mask_file(root / "masks" / f"{k}.png").array, v)
    result = check(root)
    assert "color-mask" not in result.codes() and not [f for f in result.findings if f.severity == "error"]


def test_lossy_mask_fix_jpeg(tmp_path):
    masks = binary_masks(n=2, top=255, h=96, w=120)
    root = make_dataset(tmp_path / "ds", masks, mask_ext=".jpg")
    noisy = read_mask_file(root / "masks" / "case00.jpg").array
    plan, report = fix(root, "lossy-mask")
    assert plan.heuristic and plan.files[0].changed == int(np.count_nonzero((noisy != 0) & (noisy != 255)))
    assert not (root / "masks" / "case00.jpg").exists()
    after = read_mask_file(root / "masks" / "case00.png").array
    assert set(np.unique(after)) == {0, 255}
    assert (after == 255).sum() == pytest.approx((masks["case00"] == 255).sum(), rel=0.02)
    assert (backups(root)[0] / "masks" / "case00.jpg").exists()
    result = check(root)
    assert "lossy-mask" not in result.codes() and "binary-255" in result.codes()


def test_interpolation_fix(tmp_path):
    m = voc_style(blobs(120, 160, values=(1, 2, 3), seed=3))
    r = resized(m, 0.8)
    root = make_dataset(tmp_path / "ds", {"a": r, "b": voc_style(blobs(96, 128, values=(1, 2, 3), seed=4))})
    before = read_mask_file(root / "masks" / "a.png").array
    plan, _ = fix(root, "interpolation-artifacts")
    (f,) = plan.files
    after = read_mask_file(root / "masks" / "a.png").array
    assert set(np.unique(after)) <= {0, 1, 2, 3, 255}
    assert f.changed == int(np.count_nonzero(before != after)) > 0
    kept = np.isin(before, [0, 1, 2, 3, 255])
    assert (after[kept] == before[kept]).mean() > 0.99  # class pixels are left alone
    assert "interpolation-artifacts" not in check(root).codes()


def test_inconsistent_encoding_fix(tmp_path):
    masks = binary_masks(n=4, top=1)
    odd = (masks["case03"] * 255).astype(np.uint8)
    masks["case03"] = odd
    root = make_dataset(tmp_path / "ds", masks)
    fix(root, "inconsistent-encoding")
    np.testing.assert_array_equal(read_mask_file(root / "masks" / "case03.png").array, odd // 255)
    assert read_mask_file(root / "masks" / "case00.png").mode == "L"  # untouched
    result = check(root)
    assert not {"inconsistent-encoding", "binary-255"} & result.codes()


def test_non_integer_fix_rounds_and_refuses(tmp_path):
    masks = binary_masks(n=2)
    root = make_dataset(tmp_path / "ds", {k: None for k in masks}, images={k: None for k in masks})
    from defects import image_like

    for k, v in masks.items():
        save(root / "images" / f"{k}.png", image_like(v))
    save(root / "masks" / "case00.tif", masks["case00"].astype(np.float32) + 1e-5)
    save(root / "masks" / "case01.tif", cv2.GaussianBlur(masks["case01"].astype(np.float32), (5, 5), 0))
    plan, report = fix(root, "non-integer-mask")
    assert [f.path for f in plan.writes] == ["masks/case00.tif"]
    assert plan.refused[0].path == "masks/case01.tif" and "threshold" in plan.refused[0].refused
    np.testing.assert_array_equal(read_mask_file(root / "masks" / "case00.png").array, masks["case00"])
    assert (root / "masks" / "case01.tif").exists()
    assert check(root).files_with("non-integer-mask") == ["masks/case01.tif"]


def test_unknown_code_and_nothing_to_fix(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2))
    with pytest.raises(FixError, match="binary-255"):
        plan_fix(check(root), "empty-mask")
    plan = plan_fix(check(root), "binary-255")
    assert plan.files == () and apply_fix(plan).written == ()


def test_never_writes_outside_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    masks = binary_masks(n=2, top=255)
    save(outside / "case01.png", masks["case01"])
    root = make_dataset(tmp_path / "ds", {"case00": masks["case00"]})
    from defects import image_like

    save(root / "images" / "case01.png", image_like(masks["case01"]))
    os.symlink(outside / "case01.png", root / "masks" / "case01.png")
    before = (outside / "case01.png").read_bytes()
    plan, report = fix(root, "binary-255")
    assert [f.path for f in plan.refused] == ["masks/case01.png"] and "outside" in plan.refused[0].refused
    assert report.written == ("masks/case00.png",)
    assert (outside / "case01.png").read_bytes() == before
    assert sorted(p.name for p in outside.iterdir()) == ["case01.png"]
