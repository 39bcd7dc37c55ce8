"""core/nnunet_export.py: the label map applies, progress is reported, names nnU-Net cannot take are refused."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from defects import blobs, image_like, make_dataset  # noqa: E402
from fcnstudio.core.dataset import open_dataset  # noqa: E402
from fcnstudio.core.io import read_image, read_mask  # noqa: E402
from fcnstudio.core.labels import load_project  # noqa: E402
from fcnstudio.core.nnunet_export import ExportError, ExportRefused, dataset_folder_name, export_nnunet  # noqa: E402
from fcnstudio.core.project import ClassInfo, Project, save_project  # noqa: E402


def mapped_dataset(root: Path, names=("bg", "leaf", "stem")) -> Path:
    """Masks store 0 / 100 / 200; fcnstudio.json maps 100 → 1 and 200 → 2. RGBA images."""
    masks = {f"c{i}": blobs(values=(100, 200), seed=i) for i in range(3)}
    images = {stem: image_like(m, channels=4, seed=i) for i, (stem, m) in enumerate(masks.items())}
    make_dataset(root, masks, images=images)
    classes = tuple(ClassInfo(n, c) for n, c in zip(names, ((0, 0, 0), (0, 200, 0), (120, 80, 0))))
    save_project(root, Project(classes=classes, label_map={100: 1, 200: 2}, ignore_index=None))
    return root


def test_the_label_map_applies_and_progress_counts_every_case(tmp_path):
    src = open_dataset(mapped_dataset(tmp_path / "plants"))
    calls = []
    done = export_nnunet(src, load_project(src), tmp_path / "raw", 502, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert done.folder == tmp_path / "raw" / "Dataset502_plants" and done.cases == 3
    assert done.channel_names == {"0": "R", "1": "G", "2": "B", "3": "A"}
    assert done.labels == {"background": 0, "leaf": 1, "stem": 2}  # nnU-Net requires "background": 0
    dst = open_dataset(done.folder)
    for a, b in zip(src.complete_pairs, dst.complete_pairs):
        stored = read_mask(a.mask)
        np.testing.assert_array_equal(read_mask(b.mask), np.select([stored == 100, stored == 200], [1, 2], 0))
        np.testing.assert_array_equal(read_image(b.image), read_image(a.image))
    assert load_project(dst).class_names == ["background", "leaf", "stem"]


def test_a_class_named_ignore_is_refused_before_anything_is_written(tmp_path):
    src = open_dataset(mapped_dataset(tmp_path / "plants", names=("bg", "ignore", "stem")))
    with pytest.raises(ExportRefused, match="reserves"):
        export_nnunet(src, load_project(src), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_class_other_than_0_named_background_is_refused(tmp_path):
    src = open_dataset(mapped_dataset(tmp_path / "plants", names=("soil", "background", "stem")))
    with pytest.raises(ExportRefused, match="class 1 is named 'background'"):
        export_nnunet(src, load_project(src), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("dataset_id, name, ok", [
    (1, "a", "Dataset001_a"), (999, "Road-2d_x", "Dataset999_Road-2d_x"),
    (0, "a", None), (1000, "a", None), (True, "a", None), (5, "", None), (5, "a/b", None), (5, "_a", None),
])
def test_folder_names(dataset_id, name, ok):
    if ok:
        assert dataset_folder_name(dataset_id, name) == ok
    else:
        with pytest.raises(ExportError):
            dataset_folder_name(dataset_id, name)
