"""The window and `fcnstudio check` read a dataset's classes the same way.

Opening a folder shows the classes the checker infers (JPEG noise is not a
class), and the read-only banner names the checker code whose fix converts
the mask. The datasets are generated equivalents of the real ones in
../shared/datasets (CI has no ../shared): Kvasir-SEG's JPEG masks, ISBI 2012's
0/255 PNGs, DRIVE's 0/255 GIFs, labelme's VOC palette PNGs with a 255 border,
and CCP-8's index masks with an fcnstudio.json.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from fcnstudio.cli import main
from fcnstudio.core.io import default_colors


def blob_mask(rng, h=96, w=128, classes=(255,)) -> np.ndarray:
    """A background with a few filled ellipses per class value, like a hand-drawn label."""
    m = np.zeros((h, w), np.uint8)
    for value in classes:
        for _ in range(int(rng.integers(1, 3))):
            centre = (int(rng.integers(20, w - 20)), int(rng.integers(20, h - 20)))
            axes = (int(rng.integers(8, 22)), int(rng.integers(6, 18)))
            cv2.ellipse(m, centre, axes, float(rng.integers(0, 180)), 0, 360, int(value), -1)
    return m


def jpeg_bytes(array: np.ndarray, quality: int = 75) -> bytes:
    ok, buf = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def write_images(root, stems, rng, ext=".png", h=96, w=128):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem in stems:
        cv2.imwrite(str(root / "images" / f"{stem}{ext}"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def kvasir(root, n=12):
    """Three-channel JPEG-compressed binary masks, saved under .jpg names and some under .png names."""
    rng = np.random.default_rng(0)
    stems = [f"cju{i:04d}" for i in range(n)]
    write_images(root, stems, rng, ".jpg")
    for i, stem in enumerate(stems):
        m = cv2.cvtColor(blob_mask(rng), cv2.COLOR_GRAY2BGR)
        name = f"{stem}.png" if i % 3 == 0 else f"{stem}.jpg"
        (root / "masks" / name).write_bytes(jpeg_bytes(m))
    return root


def isbi(root, n=6):
    rng = np.random.default_rng(1)
    stems = [str(i) for i in range(n)]
    write_images(root, stems, rng)
    for stem in stems:
        m = np.full((96, 128), 255, np.uint8)
        m[::12, :] = 0  # thin membranes
        m[:, ::16] = 0
        Image.fromarray(m, "L").save(root / "masks" / f"{stem}.png")
    return root


def drive(root, n=6):
    rng = np.random.default_rng(2)
    stems = [f"{i:02d}_training" for i in range(n)]
    write_images(root, stems, rng, ".tif")
    for stem in stems:
        Image.fromarray(blob_mask(rng), "L").save(root / "masks" / f"{stem}.gif")
    return root


def labelme_voc(root, n=4):
    rng = np.random.default_rng(3)
    stems = [f"2011_{i:06d}" for i in range(n)]
    write_images(root, stems, rng, ".jpg")
    palette = [c for rgb in default_colors(256) for c in rgb]
    for i, stem in enumerate(stems):
        m = blob_mask(rng, classes=(15, 5 + i))
        border = cv2.morphologyEx((m > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        m[border > 0] = 255
        im = Image.fromarray(m, "P")
        im.putpalette(palette)
        im.save(root / "masks" / f"{stem}.png")
    return root


def ccp8(root, n=8):
    rng = np.random.default_rng(4)
    stems = [f"{i:04d}" for i in range(n)]
    write_images(root, stems, rng, ".jpg")
    for stem in stems:
        Image.fromarray(blob_mask(rng, classes=(1, 2, 3, 4, 6)), "L").save(root / "masks" / f"{stem}.png")
    names = ["background", "skin", "hair", "upper", "lower", "dress", "footwear", "bag"]
    (root / "fcnstudio.json").write_text(json.dumps(
        {"version": 1, "classes": [{"name": c} for c in names], "label_map": {}, "ignore_index": 255}))
    return root


def checked_classes(capsys, root) -> list[str]:
    main(["check", "--json", "--workers", "1", str(root)])
    out, _ = capsys.readouterr()
    return [c["name"] for c in json.loads(out)["classes"]]


def window_classes(window) -> list[str]:
    tree = window.classes.tree
    return [tree.topLevelItem(i).text(1) for i in range(tree.topLevelItemCount())]


def test_jpeg_saved_binary_masks_open_as_two_classes_like_the_checker(make_window, tmp_path, capsys):
    root = kvasir(tmp_path / "kvasir")
    window = make_window(root)
    shown = window_classes(window)
    assert len(shown) == 2, shown
    assert shown == [c.name for c in window.session.project.classes]
    assert shown == checked_classes(capsys, root)
    status = window.statusBar().currentMessage()
    assert "2 colours found" in status, status
    assert window.banner.code == "lossy-mask"  # its Fix… runs the checker's lossy-mask fix
    assert "Read-only" in window.banner.text and "JPEG" in window.banner.text


@pytest.mark.parametrize("make", [isbi, drive, labelme_voc, ccp8], ids=["isbi2012", "drive", "labelme-voc", "ccp8"])
def test_window_and_check_agree_on_the_classes(make, make_window, tmp_path, capsys):
    root = make(tmp_path / make.__name__)
    window = make_window(root)
    assert window_classes(window) == checked_classes(capsys, root)
