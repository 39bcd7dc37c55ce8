"""Joint augmentation: one geometry for image and mask, nearest for masks."""

import numpy as np
import pytest

from fcnstudio.train.augment import (
    AugmentConfig, Geometry, adjust_intensity, apply_geometry, augment_pair, map_point,
)

STRONG = AugmentConfig(hflip=0.5, vflip=0.5, rot90=0.5, affine=1.0, max_rotate_deg=30, scale=(0.8, 1.25),
                       intensity=1.0)
GEOMETRY_ONLY = AugmentConfig(hflip=0.5, vflip=0.5, rot90=0.5, affine=0.7, max_rotate_deg=30,
                              scale=(0.8, 1.25), intensity=0.0)


def _random_pair(rng, shape=(17, 23), values=(0, 1, 3, 255)):
    mask = rng.choice(np.array(values, dtype=np.uint8), size=shape)
    image = rng.random(shape, dtype=np.float32)
    return image, mask


@pytest.mark.parametrize("ignore_index,fill", [(255, 255), (None, 0)])
@pytest.mark.parametrize("shape", [(17, 23), (16, 16)])
def test_mask_never_gains_a_value(ignore_index, fill, shape):
    rng = np.random.default_rng(1)
    values = (1, 3, 7, 255) if ignore_index is None else (0, 1, 3)  # fill value not in the mask
    for _ in range(60):
        image, mask = _random_pair(rng, shape, values)
        img2, mask2 = augment_pair(image, mask, rng, STRONG, ignore_index=ignore_index)
        assert set(np.unique(mask2)) <= set(np.unique(mask)) | {fill}
        assert mask2.dtype == mask.dtype and mask2.shape == mask.shape  # rot90 keeps shape
        assert img2.dtype == np.float32 and img2.shape == image.shape
        assert img2.min() >= 0.0 and img2.max() <= 1.0


def test_border_gets_the_fill_value_and_image_zero():
    image = np.ones((21, 21), np.float32)
    mask = np.ones((21, 21), np.uint8)
    img2, mask2 = apply_geometry(image, mask, Geometry(angle=30.0), fill=255)
    assert mask2[0, 0] == 255 and mask2[10, 10] == 1
    assert img2[0, 0] == 0.0 and img2[10, 10] == 1.0
    assert set(np.unique(mask2)) == {1, 255}


@pytest.mark.parametrize("geom", [
    Geometry(hflip=True), Geometry(vflip=True), Geometry(k90=1), Geometry(k90=2), Geometry(k90=3),
    Geometry(hflip=True, vflip=True, k90=1),
])
def test_exact_transforms_move_a_marker_pixel_to_the_same_place(geom):
    image = np.zeros((9, 9), np.float32)
    mask = np.zeros((9, 9), np.uint8)
    image[2, 6] = 1.0
    mask[2, 6] = 1
    img2, mask2 = apply_geometry(image, mask, geom)
    expected = tuple(round(v) for v in map_point(geom, (9, 9), 2, 6))
    assert list(zip(*np.nonzero(mask2))) == [expected]
    assert np.unravel_index(np.argmax(img2), img2.shape) == expected
    assert img2.sum() == 1.0


def test_marker_pixel_stays_aligned_under_random_affine_transforms():
    rng = np.random.default_rng(7)
    present = 0
    trials = 200
    for _ in range(trials):
        h, w = 15, 15
        y, x = (int(v) for v in rng.integers(4, 11, size=2))
        image = np.zeros((h, w), np.float32)
        mask = np.zeros((h, w), np.uint8)
        image[y, x] = 1.0
        mask[y, x] = 1
        geom = Geometry(hflip=bool(rng.integers(2)), vflip=bool(rng.integers(2)), k90=int(rng.integers(4)),
                        angle=float(rng.uniform(-30, 30)), scale=float(rng.uniform(0.8, 1.25)))
        img2, mask2 = apply_geometry(image, mask, geom)
        ty, tx = map_point(geom, (h, w), y, x)
        hits = np.argwhere(mask2 == 1)
        if len(hits):
            present += 1
        for (my, mx) in hits:
            # nearest neighbour picked the marker: it is within a pixel of where the marker lands,
            # and the image's bilinear sample there carries a good share of the marker
            assert abs(my - ty) <= 1 and abs(mx - tx) <= 1
            assert img2[my, mx] >= 0.2
        peak = np.unravel_index(np.argmax(img2), img2.shape)
        assert abs(peak[0] - ty) <= 1 and abs(peak[1] - tx) <= 1
    # nearest sampling can skip a lone pixel when zooming out; mostly it is kept
    assert present >= 0.7 * trials


def test_shapes_stay_aligned_after_augment_pair():
    """A disk drawn in both arrays still overlaps after every random transform."""
    yy, xx = np.mgrid[:32, :32]
    disk = ((yy - 12) ** 2 + (xx - 19) ** 2) <= 36
    image = disk.astype(np.float32)
    mask = disk.astype(np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(30):
        img2, mask2 = augment_pair(image, mask, rng, GEOMETRY_ONLY, ignore_index=255)
        a, b = img2 > 0.5, mask2 == 1
        assert (a & b).sum() / (a | b).sum() > 0.85


def test_same_seed_same_output_and_intensity_leaves_mask_alone():
    image, mask = _random_pair(np.random.default_rng(0))
    a = augment_pair(image, mask, np.random.default_rng(5), STRONG, 255)
    b = augment_pair(image, mask, np.random.default_rng(5), STRONG, 255)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    intensity_only = AugmentConfig(hflip=0, vflip=0, rot90=0, affine=0, intensity=1.0)
    img2, mask2 = augment_pair(image, mask, np.random.default_rng(5), intensity_only, 255)
    assert np.array_equal(mask2, mask)
    assert not np.array_equal(img2, image)


def test_off_is_identity_and_inputs_are_untouched():
    image, mask = _random_pair(np.random.default_rng(0))
    before = image.copy(), mask.copy()
    img2, mask2 = augment_pair(image, mask, np.random.default_rng(0), AugmentConfig.off())
    assert np.array_equal(img2, image) and np.array_equal(mask2, mask)
    augment_pair(image, mask, np.random.default_rng(0), STRONG, 255)
    assert np.array_equal(image, before[0]) and np.array_equal(mask, before[1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize("channels", [None, 1, 3, 5])
def test_dtypes_and_channels_survive(dtype, channels):
    rng = np.random.default_rng(2)
    shape = (12, 14) if channels is None else (12, 14, channels)
    image = rng.random(shape).astype(np.float32)
    mask = rng.integers(0, 4, (12, 14)).astype(dtype)
    img2, mask2 = augment_pair(image, mask, rng, AugmentConfig(affine=1.0), ignore_index=255)
    assert img2.shape == shape and mask2.dtype == dtype
    assert set(np.unique(mask2)) <= {0, 1, 2, 3, 255}


def test_intensity_changes_are_bounded():
    image = np.full((8, 8), 0.5, np.float32)
    cfg = AugmentConfig(intensity=1.0, brightness=0.1, contrast=0.1, gamma=0.2, noise_std=0.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = adjust_intensity(image, rng, cfg)
        # constant image: contrast is a no-op; brightness ±0.1 then gamma in [1/1.2, 1.2]
        assert 0.4 ** 1.2 - 1e-6 <= out.min() and out.max() <= 0.6 ** (1 / 1.2) + 1e-6


def test_bad_inputs_raise_value_error():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="integer"):
        augment_pair(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), rng)
    with pytest.raises(ValueError, match="float"):
        augment_pair(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), rng)
    with pytest.raises(ValueError, match="differ"):
        augment_pair(np.zeros((4, 5), np.float32), np.zeros((4, 4), np.uint8), rng)
    with pytest.raises(ValueError, match="does not fit"):
        augment_pair(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8), rng, ignore_index=300)
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(hflip=2.0)
