"""`fcnstudio export DATASET --nnunet OUT_DIR`: the round trip through our own nnU-Net reader, refusals, exit codes."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from defects import binary_masks, blobs, image_like, index_masks, make_dataset, voc_style  # noqa: E402
from fcnstudio.cli import main  # noqa: E402
from fcnstudio.core.checker.nnunet_json import read_dataset_json  # noqa: E402
from fcnstudio.core.dataset import open_dataset  # noqa: E402
from fcnstudio.core.io import read_image, read_mask  # noqa: E402
from fcnstudio.core.labels import load_project  # noqa: E402
from fcnstudio.core.project import ClassInfo, Project, save_project  # noqa: E402

CLASSES = ("background", "road", "car")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def three_class(root: Path) -> Path:
    """Plain layout, fcnstudio.json with 3 classes and ignore 255, 255 bands along the borders, RGB images."""
    masks = {stem: voc_style(m) for stem, m in index_masks(n=5, classes=3, seed=3).items()}
    make_dataset(root, masks)
    colors = ((0, 0, 0), (128, 64, 128), (0, 0, 142))
    save_project(root, Project(classes=tuple(ClassInfo(n, c) for n, c in zip(CLASSES, colors)), ignore_index=255))
    return root


def binary(root: Path) -> Path:
    """Plain layout, 0/1 masks, grey images, no project file (classes inferred)."""
    masks = binary_masks(n=4, seed=7)
    images = {stem: image_like(m, channels=1, seed=i) for i, (stem, m) in enumerate(masks.items())}
    return make_dataset(root, masks, images=images)


def assert_round_trip(src_root: Path, export: Path, ignore: int | None):
    src, dst = open_dataset(src_root), open_dataset(export)
    assert dst.layout == "nnunet"
    src_project, dst_project = load_project(src), load_project(dst)
    assert dst_project.source == "dataset.json"
    assert dst_project.class_names == ["background", *src_project.class_names[1:]]  # nnU-Net's name for class 0
    data = read_dataset_json(export / "dataset.json")
    assert data["numTraining"] == len(src.complete_pairs) == len(dst.complete_pairs)
    assert data["file_ending"] == ".png"
    if ignore is None:
        assert "ignore" not in data["labels"] and dst_project.ignore_index is None
    else:
        assert data["labels"]["ignore"] == max(data["labels"].values()) == src_project.num_classes
        assert dst_project.ignore_index == src_project.num_classes
    for a, b in zip(src.complete_pairs, dst.complete_pairs):
        assert (a.stem, b.image.name, b.mask.name) == (a.stem, f"{a.stem}_0000.png", f"{a.stem}.png")
        np.testing.assert_array_equal(read_image(b.image), read_image(a.image))
        want = src_project.encode(read_mask(a.mask))
        if ignore is not None:
            want = np.where(want == ignore, src_project.num_classes, want)
        got = read_mask(b.mask)
        assert got.ndim == 2 and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(dst_project.encode(got), got)  # every value is a class or the ignore label


def test_three_classes_and_ignore_round_trip(tmp_path, capsys):
    src = three_class(tmp_path / "streets")
    out = tmp_path / "raw"
    code, stdout, err = run(capsys, "export", src, "--nnunet", out, "--no-progress")
    assert code == 0, err
    export = out / "Dataset501_streets"
    assert sorted(p.name for p in out.iterdir()) == ["Dataset501_streets"]  # no temp folder left
    assert "nnUNetv2_plan_and_preprocess -d 501 --verify_dataset_integrity" in stdout
    data = read_dataset_json(export / "dataset.json")
    assert data["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert data["labels"] == {"background": 0, "road": 1, "car": 2, "ignore": 3}
    assert_round_trip(src, export, ignore=255)
    assert 3 in np.unique(read_mask(export / "labelsTr" / "case00.png"))  # the border bands are there
    code, stdout, err = run(capsys, "check", export, "--no-progress", "--workers", "1")
    assert code == 0, stdout
    assert "0 errors" in stdout and "from dataset.json" in stdout


def test_binary_round_trip_with_id_and_name(tmp_path, capsys):
    src = binary(tmp_path / "cells")
    out = tmp_path / "raw"
    code, _, err = run(capsys, "export", src, "--nnunet", out, "--id", "7", "--name", "Cells-2d", "--no-progress")
    assert code == 0, err
    export = out / "Dataset007_Cells-2d"
    data = read_dataset_json(export / "dataset.json")
    assert data["channel_names"] == {"0": "L"}
    assert list(data["labels"].values()) == [0, 1]
    assert_round_trip(src, export, ignore=None)
    code, stdout, _ = run(capsys, "check", export, "--no-progress", "--workers", "1")
    assert code == 0, stdout


def test_an_error_finding_refuses_and_writes_nothing(tmp_path, capsys):
    masks = binary_masks(n=4, top=255, seed=1)  # 0/255 masks: the binary-255 error
    src = make_dataset(tmp_path / "bad", masks)
    out = tmp_path / "raw"
    out.mkdir()
    code, stdout, err = run(capsys, "export", src, "--nnunet", out, "--no-progress")
    assert code == 1
    assert "refused" in err and "binary-255" in err and "fcnstudio fix" in err
    assert stdout == ""
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("extra, words", [
    (("--id", "0"), "1..999"),
    (("--id", "1000"), "1..999"),
    (("--name", "a b/c"), "--name"),
])
def test_bad_id_or_name_is_a_usage_error(tmp_path, capsys, extra, words):
    src = binary(tmp_path / "cells")
    code, _, err = run(capsys, "export", src, "--nnunet", tmp_path / "raw", "--no-progress", *extra)
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "raw").exists()


def test_refuses_a_non_empty_target_and_a_taken_id(tmp_path, capsys):
    src = binary(tmp_path / "cells")
    out = tmp_path / "raw"
    (out / "Dataset501_cells").mkdir(parents=True)
    (out / "Dataset501_cells" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "export", src, "--nnunet", out, "--no-progress")
    assert code == 2 and "not empty" in err
    assert (out / "Dataset501_cells" / "notes.txt").read_text() == "mine"
    code, _, err = run(capsys, "export", src, "--nnunet", out, "--name", "other", "--no-progress")
    assert code == 2 and "already has the id 501" in err
    assert sorted(p.name for p in out.iterdir()) == ["Dataset501_cells"]
    (out / "Dataset501_cells" / "notes.txt").unlink()  # an empty target folder is fine
    code, _, err = run(capsys, "export", src, "--nnunet", out, "--no-progress")
    assert code == 0, err
    assert json.loads((out / "Dataset501_cells" / "dataset.json").read_text())["numTraining"] == 4


def test_mixed_channel_counts_are_refused_with_nothing_left(tmp_path, capsys):
    masks = {f"case{i:02d}": blobs(seed=i) for i in range(4)}
    images = {stem: image_like(m, channels=1 if i == 2 else 3, seed=i) for i, (stem, m) in enumerate(masks.items())}
    src = make_dataset(tmp_path / "mixed", masks, images=images)
    out = tmp_path / "raw"
    code, _, err = run(capsys, "export", src, "--nnunet", out, "--no-progress")
    assert code == 1 and "same channels in every case" in err
    assert list(out.iterdir()) == []
