"""Layouts are detected and pairs matched by stem without decoding anything."""

import numpy as np
import pytest
from PIL import Image

from fcnstudio.core.dataset import DatasetError, open_dataset


def _png(path, value=0, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


def test_plain_layout_pairs_by_stem_with_mask_suffixes(tmp_path):
    for stem in ("a", "b", "c", "d"):
        _png(tmp_path / "images" / f"{stem}.png")
    _png(tmp_path / "masks" / "a.png")
    _png(tmp_path / "masks" / "b_mask.png")
    _png(tmp_path / "masks" / "c_label.png")
    _png(tmp_path / "masks" / "orphan_seg.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "plain"
    got = {p.stem: (p.image and p.image.name, p.mask and p.mask.name) for p in ds.pairs}
    assert got == {
        "a": ("a.png", "a.png"),
        "b": ("b.png", "b_mask.png"),
        "c": ("c.png", "c_label.png"),
        "d": ("d.png", None),
        "orphan": (None, "orphan_seg.png"),
    }
    assert ds.mask_path_for(ds.pairs[ds.index_of("d")]) == ds.mask_dir / "d.png"


def test_nnunet_layout_uses_channel_suffix(tmp_path):
    _png(tmp_path / "imagesTr" / "case_001_0000.png")
    _png(tmp_path / "imagesTr" / "case_001_0001.png")
    _png(tmp_path / "labelsTr" / "case_001.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "nnunet"
    assert [(p.stem, p.image.name, p.mask.name) for p in ds.pairs] == [("case_001", "case_001_0000.png", "case_001.png")]


def test_voc_layout_only_takes_segmentation_images(tmp_path):
    for s in ("2007_1", "2007_2", "2007_3"):
        _png(tmp_path / "JPEGImages" / f"{s}.png")
    _png(tmp_path / "SegmentationClass" / "2007_2.png")
    ds = open_dataset(tmp_path)
    assert ds.layout == "voc"
    assert [p.stem for p in ds.pairs] == ["2007_2"]


def test_natural_sort_order(tmp_path):
    for s in ("10", "2", "1"):
        _png(tmp_path / "images" / f"{s}.png")
        _png(tmp_path / "masks" / f"{s}.png")
    assert [p.stem for p in open_dataset(tmp_path).pairs] == ["1", "2", "10"]


def test_bad_folders_say_what_is_wrong(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(tmp_path / "file.txt")
    with pytest.raises(DatasetError, match="does not look like a dataset"):
        open_dataset(tmp_path)


def test_listing_many_pairs_decodes_nothing(tmp_path, monkeypatch):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(2000):
        (tmp_path / "images" / f"{i}.png").write_bytes(b"not decoded")
        (tmp_path / "masks" / f"{i}.png").write_bytes(b"not decoded")
    ds = open_dataset(tmp_path)
    assert len(ds.complete_pairs) == 2000
