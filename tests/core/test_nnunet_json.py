"""nnU-Net's dataset.json is the class list: labels, ignore, channel_names — checked as a project file would be."""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for nnunet_data.py

import cv2
import numpy as np
import pytest

from nnunet_data import case_mask, make_nnunet
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.dataset import open_dataset
from fcnstudio.core.labels import load_project
from fcnstudio.core.project import ProjectError

REPO = Path(__file__).resolve().parents[2]


def check(root):
    return check_dataset(root, workers=1)


def cli(root, *extra):
    """``python -m fcnstudio check ROOT``: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "fcnstudio", "check", str(root), "--no-progress", *extra],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_labels_are_the_classes_and_the_header_says_dataset_json(tmp_path):
    root = make_nnunet(tmp_path / "Dataset001_Liver")
    project = load_project(open_dataset(root))
    assert project.class_names == ["background", "liver", "tumour"] and not project.inferred
    assert project.ignore_index is None
    code, out, err = cli(root)
    assert code == 0, out + err
    assert "3 classes from dataset.json" in out
    assert "liver" in out and "tumour" in out


def test_a_value_past_the_declared_labels_is_out_of_range_exit_1(tmp_path):
    bad = case_mask(1)
    cv2.circle(bad, (20, 20), 6, 3, -1)  # a third foreground value nobody declared
    root = make_nnunet(tmp_path / "ds", masks={1: bad})
    result = check(root)
    assert result.files_with("label-out-of-range") == ["labelsTr/liver_001.png"]
    assert "3" in result.by_code("label-out-of-range")[0].message
    code, out, _ = cli(root)
    assert code == 1 and "label-out-of-range" in out


def test_the_ignore_label_is_the_ignore_value(tmp_path):
    masks = {}
    for i in range(3):
        m = case_mask(i)
        m[:, :6] = 3  # an unannotated strip
        masks[i] = m
    root = make_nnunet(tmp_path / "ds", n=3, masks=masks, labels={"background": 0, "liver": 1, "tumour": 2, "ignore": 3})
    result = check(root)
    assert result.project.ignore_index == 3 and result.project.class_names == ["background", "liver", "tumour"]
    assert not [f for f in result.findings if f.severity == "error"], [f.message for f in result.findings]
    assert result.stats.ignored_pixels == 3 * 96 * 6


def test_an_ignore_label_that_is_not_the_highest_is_refused_with_the_reason(tmp_path):
    root = make_nnunet(tmp_path / "ds", labels={"background": 0, "ignore": 1, "liver": 2})
    with pytest.raises(ProjectError, match="highest"):
        check(root)
    code, out, err = cli(root)
    assert code == 2 and "'ignore' label is 1" in err and "highest" in err and "Traceback" not in err


def test_region_based_labels_are_reported_as_not_supported(tmp_path):
    root = make_nnunet(tmp_path / "ds", labels={"background": 0, "whole tumour": [1, 2], "core": 2})
    with pytest.raises(ProjectError, match="region"):
        load_project(open_dataset(root))
    code, out, err = cli(root)
    assert code == 2 and "'whole tumour' is a region" in err and "not support" in err and "Traceback" not in err


def test_labels_with_a_gap_are_refused(tmp_path):
    root = make_nnunet(tmp_path / "ds", labels={"background": 0, "tumour": 2})
    with pytest.raises(ProjectError, match="1 is missing"):
        check(root)


def test_a_case_missing_one_channel_file_is_missing_image(tmp_path):
    root = make_nnunet(tmp_path / "ds", files_per_case=2)
    (root / "imagesTr" / "liver_002_0001.png").unlink()
    result = check(root)
    assert result.files_with("missing-image") == ["imagesTr/liver_002_0001.png"]
    assert "2 channels (CT0, CT1)" in result.by_code("missing-image")[0].message
    code, out, _ = cli(root)
    assert code == 1 and "imagesTr/liver_002_0001.png" in out


def test_channel_names_disagreeing_with_the_files(tmp_path):
    root = make_nnunet(tmp_path / "ds", rgb=True, channel_names={"0": "CT"})
    result = check(root)
    found = result.by_code("image-channels-mixed")
    assert len(found) == 1 and "1 channel (CT)" in found[0].message and len(found[0].files) == 4
    extra = make_nnunet(tmp_path / "ds2", files_per_case=2, channel_names={"0": "T2"})
    found = check(extra).by_code("image-channels-mixed")
    assert len(found) == 1 and "imagesTr/liver_000_0001.png" in found[0].files


def test_matching_channel_names_give_no_finding(tmp_path):
    for root in (make_nnunet(tmp_path / "rgb", rgb=True), make_nnunet(tmp_path / "two", files_per_case=2)):
        result = check(root)
        assert not {"image-channels-mixed", "missing-image"} & result.codes(), [f.message for f in result.findings]


def test_fcnstudio_json_still_wins(tmp_path):
    root = make_nnunet(tmp_path / "ds", labels={"background": 0, "liver": 1, "tumour": 2, "spleen": 3})
    (root / "fcnstudio.json").write_text(json.dumps({"version": 1, "classes": ["bg", "organ", "lesion"]}))
    result = check(root)
    assert result.project.class_names == ["bg", "organ", "lesion"]
    code, out, _ = cli(root)
    assert code == 0 and "3 classes from fcnstudio.json" in out


def test_a_plain_dataset_with_a_dataset_json_is_not_read_as_nnunet(tmp_path):
    root = make_nnunet(tmp_path / "ds")
    (root / "imagesTr").rename(root / "images")
    (root / "labelsTr").rename(root / "masks")
    for p in (root / "images").iterdir():
        p.rename(p.with_name(p.name.replace("_0000", "")))
    assert load_project(open_dataset(root)).inferred
