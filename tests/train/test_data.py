"""Training data: label map on load, clear errors naming the file, crops, fg-aware sampling, split."""

import json

import cv2
import numpy as np
import pytest

from fcnstudio.core.dataset import open_dataset
from fcnstudio.core.labels import load_project
from fcnstudio.train.crops import CropSampler
from fcnstudio.train.data import PairStore, train_ignore_index
from fcnstudio.train.errors import DataError
from fcnstudio.train.preprocess import channel_mode, unit_scale
from fcnstudio.train.split import split_by_image


def _dataset(root, masks, images=None, project=None, image_ext=".png"):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (stem, m) in enumerate(masks.items()):
        img = images[stem] if images and stem in images else \
            (30 + 60 * (m > 0) + np.random.default_rng(i).integers(0, 20, m.shape)).astype(np.uint8)
        if img.ndim == 3:
            cv2.imwrite(str(root / "images" / f"{stem}{image_ext}"), cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA
                                                                                   if img.shape[2] == 4 else cv2.COLOR_RGB2BGR))
        else:
            cv2.imwrite(str(root / "images" / f"{stem}{image_ext}"), img)
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), m)
    if project is not None:
        (root / "fcnstudio.json").write_text(json.dumps(project))
    ds = open_dataset(root)
    return ds, load_project(ds)


def _store(ds, project, **kw):
    return PairStore(ds, ds.complete_pairs, project, channel_mode(ds), **kw)


def test_label_map_applied_on_load(tmp_path):
    m = np.zeros((20, 24), np.uint8)
    m[5:10, 5:10] = 255
    ds, proj = _dataset(tmp_path, {"a": m}, project={"classes": ["bg", "fg"], "label_map": {"255": 1},
                                                       "ignore_index": None})
    s = _store(ds, proj).load(0)
    assert set(np.unique(s.mask)) == {0, 1}
    assert (s.mask == 1).sum() == 25


def test_value_outside_label_map_names_the_file(tmp_path):
    m = np.zeros((20, 24), np.uint8)
    m[2:4, 2:4] = 7
    ds, proj = _dataset(tmp_path, {"ok": np.zeros((20, 24), np.uint8), "bad": m},
                        project={"classes": ["bg", "fg"], "ignore_index": None})
    store = _store(ds, proj)
    with pytest.raises(DataError) as e:
        store.scan()
    assert "masks/bad.png" in str(e.value) and "7" in str(e.value)
    assert "target out of bounds" not in str(e.value)


def test_shape_mismatch_names_both_files(tmp_path):
    ds, proj = _dataset(tmp_path, {"a": np.zeros((20, 24), np.uint8)},
                        images={"a": np.zeros((24, 20), np.uint8)},
                        project={"classes": ["bg", "fg"], "ignore_index": None})
    with pytest.raises(DataError, match=r"images/a.png.*masks/a.png.*rotated"):
        _store(ds, proj).load(0)


def test_internal_ignore_value_pads_small_images(tmp_path):
    m = np.ones((10, 12), np.uint8)
    ds, proj = _dataset(tmp_path, {"a": m}, project={"classes": ["bg", "fg"], "ignore_index": None})
    assert proj.ignore_index is None and train_ignore_index(proj) == 255
    store = _store(ds, proj)
    store.scan()
    sampler = CropSampler(store, [0], crop_size=32, fg_fraction=0.0, augment=None)
    img, mask, _ = sampler.sample(np.random.default_rng(0))
    assert img.shape == (1, 32, 32) and mask.shape == (32, 32)
    assert (mask == 1).sum() == 120 and (mask == 255).sum() == 32 * 32 - 120
    assert np.isfinite(img).all()


def test_foreground_share_of_crops_is_about_a_third(tmp_path):
    m = np.zeros((128, 128), np.uint8)
    m[60:63, 60:63] = 1                     # 9 foreground pixels, far from every border
    m[30:32, 90:92] = 2
    ds, proj = _dataset(tmp_path, {"a": m, "b": np.zeros((128, 128), np.uint8)},
                        project={"classes": ["bg", "one", "two"], "ignore_index": None})
    store = _store(ds, proj)
    store.scan()
    sampler = CropSampler(store, [0, 1], crop_size=32, fg_fraction=1 / 3, augment=None)
    assert sampler.foreground_classes == [1, 2]
    rng = np.random.default_rng(1)
    centred = total = 0
    classes_hit = set()
    for _ in range(150):
        k = sampler.fg_count(rng, 6)
        for j in range(6):
            _, mask, centre = sampler.sample(rng, fg=j < k)
            total += 1
            if mask[16, 16] in (1, 2):
                centred += 1
                classes_hit.add(int(mask[16, 16]))
            if j < k:
                assert centre == (16, 16)
    share = centred / total
    assert 0.28 < share < 0.40, share
    assert classes_hit == {1, 2}            # every class gets centred crops, not only the common one


def test_batch_shapes_and_types(tmp_path):
    m = np.zeros((40, 40), np.uint8)
    m[10:20, 10:20] = 1
    ds, proj = _dataset(tmp_path, {"a": m}, project={"classes": ["bg", "fg"], "ignore_index": None})
    store = _store(ds, proj)
    store.scan()
    from fcnstudio.train.augment import AugmentConfig
    x, y = CropSampler(store, [0], 32, augment=AugmentConfig()).batch(np.random.default_rng(0), 4)
    assert x.shape == (4, 1, 32, 32) and x.dtype == np.float32
    assert y.shape == (4, 32, 32) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1, 255}


def test_the_parts_of_a_batch_are_the_crops_of_the_whole_batch(tmp_path):
    """Two processes each making their share of a batch get exactly the crops one process makes."""
    rng0 = np.random.default_rng(5)
    m = np.zeros((48, 48), np.uint8)
    m[10:20, 12:30] = 1
    img = rng0.integers(0, 255, (48, 48)).astype(np.uint8)
    ds, proj = _dataset(tmp_path, {"a": m, "b": m.T.copy()}, images={"a": img, "b": img.T.copy()},
                        project={"classes": ["bg", "fg"], "ignore_index": None})
    store = _store(ds, proj)
    store.scan()
    from fcnstudio.train.augment import AugmentConfig
    sampler = CropSampler(store, [0, 1], 24, augment=AugmentConfig())
    whole, parts = np.random.default_rng(3), [np.random.default_rng(3), np.random.default_rng(3)]
    for _ in range(3):
        x, y = sampler.batch(whole, 5)
        x0, y0 = sampler.batch(parts[0], 5, part=range(0, 5, 2))
        x1, y1 = sampler.batch(parts[1], 5, part=range(1, 5, 2))
        assert np.array_equal(x[0::2], x0) and np.array_equal(x[1::2], x1)
        assert np.array_equal(y[0::2], y0) and np.array_equal(y[1::2], y1)
    assert whole.random() == parts[0].random() == parts[1].random()  # every generator advanced alike


def test_channels_follow_the_majority_and_rgba_becomes_rgb(tmp_path):
    m = np.zeros((16, 16), np.uint8)
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full((16, 16), 255, np.uint8)])
    ds, proj = _dataset(tmp_path, {"a": m, "b": m, "c": m},
                        images={"a": rgb, "b": rgba, "c": np.zeros((16, 16), np.uint8) + 9},
                        project={"classes": ["bg", "fg"], "ignore_index": None})
    assert channel_mode(ds) == "rgb"
    store = _store(ds, proj)
    assert store.in_channels == 3
    assert all(store.load(i).image.shape == (16, 16, 3) for i in range(3))


def test_sixteen_bit_images_use_their_range():
    img = np.linspace(1000, 4000, 64 * 64).reshape(64, 64).astype(np.uint16)
    u = unit_scale(img)
    assert u.dtype == np.float32 and u.min() == 0.0 and u.max() == 1.0
    assert unit_scale(np.full((4, 4), 200, np.uint8)).max() == pytest.approx(200 / 255)


def test_a_256_class_project_trains_with_an_ignore_value_masks_can_hold(tmp_path):
    m = np.zeros((32, 32), np.uint16)
    m[4:8, 4:8] = 255
    ds, proj = _dataset(tmp_path, {"a": m}, project={"classes": [f"c{i}" for i in range(256)], "ignore_index": None})
    store = _store(ds, proj)
    ignore = train_ignore_index(proj)
    assert ignore == 256  # 255 is a class
    mask = store.load(0).mask
    assert (mask == 255).sum() == 16
    assert int(np.array(ignore).astype(mask.dtype)) == 256  # padding with it does not wrap to class 0


def test_cache_is_bounded(tmp_path):
    masks = {f"p{i}": np.zeros((32, 32), np.uint8) for i in range(3)}
    ds, proj = _dataset(tmp_path, masks, project={"classes": ["bg", "fg"], "ignore_index": None})
    store = _store(ds, proj, cache_mb=0)
    for i in range(3):
        store.load(i)
    assert store._cached == 0 and not store._cache


def test_split_by_image_is_seeded_and_never_empty():
    tr, va = split_by_image(10, 0.2, seed=3)
    assert (tr, va) == split_by_image(10, 0.2, seed=3)
    assert len(va) == 2 and not set(tr) & set(va) and sorted(tr + va) == list(range(10))
    assert split_by_image(3, 0.01, 0)[1] and len(split_by_image(3, 0.01, 0)[0]) == 2
    assert split_by_image(1) == ([0], [0])
    assert split_by_image(2) == ([0, 1], [0, 1])
    # the validation images cover a class found in two or more images
    classes = [{0}] * 8 + [{0, 1}, {0, 1}]
    for seed in range(5):
        _, va = split_by_image(10, 0.1, seed, classes)
        assert any(1 in classes[i] for i in va)


def test_rgb_images_in_a_grey_dataset_become_grey_on_the_same_scale():
    from fcnstudio.train.preprocess import prepare_image
    unit, mean, _ = prepare_image(np.full((4, 4, 3), 200, np.uint8), "grey")
    assert unit.shape == (4, 4, 1) and mean == pytest.approx(200 / 255)
    unit, _, _ = prepare_image(np.full((4, 4), 200, np.uint8), "rgb")
    assert unit.shape == (4, 4, 3)
