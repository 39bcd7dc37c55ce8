"""The input scale: chosen from masks made here, applied by the pair store, undone by predict."""

import json

import cv2
import numpy as np
import pytest
import torch

from fcnstudio.core.io import write_mask
from fcnstudio.train.events import InfoEvent
from fcnstudio.train.input_scale import MIN_WIDTH_PX, STEP, TARGET_SIDE, choose_input_scale, region_width
from fcnstudio.train.predict import Predictor
from fcnstudio.train.checkpoint import load_checkpoint
from fcnstudio.train.trainer import Trainer, TrainConfig

torch.set_num_threads(1)


def blobs(h, w, radius, n=4, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for k in range(n):
        cv2.circle(m, (int(rng.integers(radius, w - radius)), int(rng.integers(radius, h - radius))), radius,
                   1 + k % 2, -1)
    return m


def vessels(h, w, thickness, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(12):
        p, q = rng.integers(0, [w, h], 2), rng.integers(0, [w, h], 2)
        cv2.line(m, tuple(int(v) for v in p), tuple(int(v) for v in q), 1, thickness)
    return m


def test_region_width_is_a_strips_width_and_about_a_discs_radius():
    strip = np.zeros((100, 200), bool)
    strip[40:46, 10:190] = True
    assert region_width(strip) == pytest.approx(6, rel=0.1)
    disc = np.zeros((100, 100), np.uint8)
    cv2.circle(disc, (50, 50), 20, 1, -1)
    assert 0.7 * 20 <= region_width(disc.astype(bool)) <= 20  # a disc: a little under its radius


def test_large_photos_with_thick_objects_train_smaller_and_keep_the_objects_visible():
    masks = [blobs(840, 560, 40, seed=s) for s in range(6)]
    c = choose_input_scale(masks, 3)
    assert 0 < c.scale < 1
    assert (c.scale / STEP) == pytest.approx(round(c.scale / STEP))          # a multiple of 1/8
    assert c.thinnest_width * c.scale >= MIN_WIDTH_PX                          # objects stay wider than the floor
    assert abs(min(masks[0].shape) * c.scale - TARGET_SIDE) <= STEP / 2 * min(masks[0].shape)  # short side ~256
    assert f"{c.scale:g}x" in c.reason and "short side" in c.reason


def test_the_short_side_lands_nearest_the_target_not_the_next_step_above_it():
    masks = [blobs(510, 340, 40, seed=s) for s in range(4)]   # CCP-8 photos as the review bench has them
    c = choose_input_scale(masks, 3)
    assert c.scale == 0.75 and abs(340 * c.scale - TARGET_SIDE) < 340 * STEP / 2   # 255 px, not 0.875 (298 px)


def test_thin_vessels_keep_full_size_whatever_the_image_size():
    masks = [vessels(900, 900, 3, seed=s) for s in range(5)]
    c = choose_input_scale(masks, 2)
    assert c.scale == 1.0
    assert c.thinnest_width < MIN_WIDTH_PX * 2 and "thinnest class" in c.reason


def test_a_thin_background_membrane_counts_too():
    """EM membranes are class 0 between large class-1 cells: the background's width decides."""
    masks = []
    for s in range(4):
        m = np.ones((800, 800), np.uint8)
        for x in range(0, 800, 60):
            m[:, x:x + 2] = 0
            m[x:x + 2, :] = 0
        masks.append(np.roll(m, s * 7, axis=0))
    c = choose_input_scale(masks, 2)
    assert c.scale == 1.0 and c.thinnest_class == 0


def test_small_images_stay_at_full_size_and_no_mask_means_full_size():
    assert choose_input_scale([blobs(200, 240, 30, seed=s) for s in range(3)], 3).scale == 1.0
    assert choose_input_scale([], 3).scale == 1.0


def test_a_class_seen_in_one_mask_does_not_hold_back_the_others():
    masks = [blobs(840, 560, 40, seed=s) for s in range(6)]
    masks[1] = masks[1].copy()
    masks[1][300:302, 50:500] = 3   # class 3: a 2-px scratch in one mask of six
    assert choose_input_scale(masks, 4).scale < 1
    masks[2] = masks[2].copy()
    masks[2][500:502, 50:500] = 3   # in three masks it is a real thin class
    masks[3] = masks[3].copy()
    masks[3][600:602, 50:500] = 3
    assert choose_input_scale(masks, 4).scale == 1.0


def photo_dataset(root, n=4, h=480, w=400):
    """Large grey 'photos' with big bright discs (class 1) and big darker squares (class 2)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (int(rng.integers(80, w - 80)), int(rng.integers(80, h - 80))), 60, 1, -1)
        y, x = int(rng.integers(0, h - 90)), int(rng.integers(0, w - 90))
        m[y:y + 90, x:x + 90] = 2
        img = (40 + 150 * (m == 1) + 80 * (m == 2) + rng.normal(0, 6, m.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"p{i}.png"), img)
        write_mask(root / "masks" / f"p{i}.png", m)
    (root / "fcnstudio.json").write_text(json.dumps({"classes": ["background", "disc", "square"],
                                                     "ignore_index": None}))
    return root


def test_a_run_at_a_reduced_scale_says_so_and_predicts_at_full_size(tmp_path):
    data = photo_dataset(tmp_path / "ds")
    events = []
    cfg = TrainConfig(width=8, depth=2, crop_size=64, batch_size=4, num_threads=1, max_steps=4, eval_every_steps=2,
                      warmup_steps=1, preflight=False, out_dir=str(tmp_path / "run"))
    t = Trainer(data, cfg, callback=events.append)
    t.run()
    assert 0 < t.input_scale.scale < 1
    setup = [e.message for e in events if isinstance(e, InfoEvent) and e.code == "setup"]
    assert setup and f"input {t.input_scale.scale:g}x" in setup[0] and "resunet" in setup[0]
    sample = t.store.load(t.train_idx[0])
    assert sample.mask.shape == (round(480 * t.input_scale.scale), round(400 * t.input_scale.scale))
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["input_scale"] == t.input_scale.scale
    image = cv2.imread(str(data / "images" / "p0.png"), cv2.IMREAD_UNCHANGED)
    classes, prob = Predictor(ckpt).predict(image)
    assert classes.shape == (480, 400) and prob.shape == (3, 480, 400)
    assert np.allclose(prob.sum(0), 1, atol=1e-3)


def test_an_explicit_scale_wins_and_the_crop_sampler_stays_inside_the_scaled_images(tmp_path):
    data = photo_dataset(tmp_path / "ds", n=3)
    t = Trainer(data, TrainConfig(input_scale=0.25, width=4, depth=1, crop_size=32, num_threads=1, max_steps=1,
                                  preflight=False))
    t.prepare(make_run_dir=False)
    assert t.input_scale.scale == 0.25
    rng = np.random.default_rng(0)
    for _ in range(20):  # foreground-centred crops read the scaled coordinates
        img, mask, centre = t.sampler.sample(rng, fg=True)
        assert mask.shape == (32, 32)
        if centre is not None:
            assert mask[centre] in (1, 2)
