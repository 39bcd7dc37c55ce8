"""core/labels.py: the editor's classes are the checker's, and a read-only mask names a checker code."""

import cv2
import numpy as np

from fcnstudio.core.checker.findings import SEVERITY
from fcnstudio.core.checker.run import check_dataset
from fcnstudio.core.dataset import open_dataset
from fcnstudio.core.io import MaskFile, read_mask_file
from fcnstudio.core.labels import classify_mask, infer_project
from fcnstudio.core.project import ClassInfo, Project

TWO = (ClassInfo("background", (0, 0, 0)), ClassInfo("cell", (255, 255, 255)))


def jpeg_colour_dataset(root, n=14):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(5)
    for i in range(n):
        m = np.zeros((80, 96, 3), np.uint8)
        cv2.ellipse(m, (48, 40), (int(rng.integers(10, 30)), 18), float(rng.integers(0, 180)), 0, 360, (255, 255, 255), -1)
        cv2.imwrite(str(root / "masks" / f"k{i}.jpg"), m, [cv2.IMWRITE_JPEG_QUALITY, 75])
        cv2.imwrite(str(root / "images" / f"k{i}.jpg"), m)
    return root


def test_jpeg_noise_is_not_a_class_on_open_nor_in_the_check(tmp_path):
    ds = open_dataset(jpeg_colour_dataset(tmp_path / "kv"))
    opened = infer_project(ds)
    assert [c.name for c in opened.classes] == [c.name for c in check_dataset(ds, workers=1).project.classes]
    assert opened.num_classes == 2


def test_a_jpeg_colour_mask_is_read_only_as_lossy_mask(tmp_path):
    root = jpeg_colour_dataset(tmp_path / "kv", n=1)
    mf = read_mask_file(root / "masks" / "k0.jpg")
    project = Project(classes=TWO, label_map={(0, 0, 0): 0, (255, 255, 255): 1}, ignore_index=None)
    shown, why = classify_mask(mf, project, np.dtype(np.uint8))
    assert why is not None and why.code == "lossy-mask"
    assert set(np.unique(shown)) <= {0, 1}  # noise shown as the nearest class, not as "no class"


def test_every_read_only_code_is_a_checker_code():
    renumbered = Project(classes=TWO, label_map={10: 1}, ignore_index=None)
    cases = [
        (MaskFile(np.array([[0, 10]], np.uint8), None, "PNG", "L"), renumbered),
        (MaskFile(np.array([[0, 255]], np.uint8), None, "PNG", "L"), Project(classes=TWO, ignore_index=None)),
        (MaskFile(np.array([[0, 7]], np.uint8), None, "PNG", "L"), Project(classes=TWO, ignore_index=None)),
        (MaskFile(np.zeros((1, 2, 3), np.uint8), None, "PNG", "RGB"), Project(classes=TWO)),
        (MaskFile(np.array([[0.5, 1.0]], np.float32), None, "TIFF", "F"), Project(classes=TWO)),
    ]
    codes = [classify_mask(mf, p, np.dtype(np.uint8))[1].code for mf, p in cases]
    assert codes == ["label-out-of-range", "binary-255", "label-out-of-range", "color-mask", "non-integer-mask"]
    assert all(c in SEVERITY for c in codes)
