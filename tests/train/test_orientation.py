"""Upright images (a class that keeps to the top or the bottom) train without vertical flips or quarter turns."""

import json

import cv2
import numpy as np
import torch

from fcnstudio.core.io import write_mask
from fcnstudio.train.events import InfoEvent
from fcnstudio.train.orientation import find_orientation
from fcnstudio.train.trainer import Trainer, TrainConfig

torch.set_num_threads(1)


def street(h=120, w=160, seed=0):
    """Sky (1) in the top third, road (2) in the bottom third, a car (3) somewhere in between."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    m[: int(h * rng.uniform(0.25, 0.4))] = 1
    m[int(h * rng.uniform(0.65, 0.75)):] = 2
    x = int(rng.integers(10, w - 50))
    m[int(h * 0.5):int(h * 0.68), x:x + 40] = 3
    return m


def cells(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(6):
        cv2.circle(m, (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10))), 8, 1, -1)
    return m


def test_street_scenes_have_an_up_and_the_reason_names_the_class():
    o = find_orientation([street(seed=s) for s in range(6)], 4, ("background", "sky", "road", "car"))
    assert o.upright and ("sky" in o.reason or "road" in o.reason) and "left-right flips only" in o.reason


def test_cells_anywhere_have_no_up():
    o = find_orientation([cells(seed=s) for s in range(8)], 2)
    assert not o.upright and "every direction" in o.reason


def test_a_flipped_half_of_the_dataset_has_no_up_either():
    masks = [street(seed=s) for s in range(8)]
    masks = [m if i % 2 else m[::-1] for i, m in enumerate(masks)]
    assert not find_orientation(masks, 4).upright


def test_two_masks_are_too_few_to_say():
    assert not find_orientation([street(seed=0), street(seed=1)], 4).upright


def street_dataset(root, n=6):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        m = street(seed=i)
        img = (30 + 60 * m + np.random.default_rng(i).normal(0, 5, m.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"f{i}.png"), img)
        write_mask(root / "masks" / f"f{i}.png", m)
    (root / "fcnstudio.json").write_text(json.dumps({"classes": ["background", "sky", "road", "car"],
                                                     "ignore_index": None}))
    return root


def test_an_upright_dataset_trains_with_left_right_flips_only_unless_told_otherwise(tmp_path):
    data = street_dataset(tmp_path / "ds")
    base = dict(width=4, depth=1, crop_size=64, batch_size=2, num_threads=1, max_steps=1, preflight=False)
    t = Trainer(data, TrainConfig(**base))
    t.prepare(make_run_dir=False)
    assert t.orientation.upright
    assert (t.sampler.augment.vflip, t.sampler.augment.rot90, t.sampler.augment.hflip) == (0.0, 0.0, 0.5)
    rng = np.random.default_rng(0)
    for _ in range(30):  # no crop ever has road above sky
        _, mask, _ = t.sampler.sample(rng)
        rows = np.nonzero((mask == 1).any(axis=1))[0], np.nonzero((mask == 2).any(axis=1))[0]
        if len(rows[0]) and len(rows[1]):
            assert rows[0].min() < rows[1].min()
    events = []
    t2 = Trainer(data, TrainConfig(**base, flips="all"), callback=events.append)
    t2.run()
    assert t2.sampler.augment.vflip == 0.5 and t2.sampler.augment.rot90 == 0.5
    setup = next(e.message for e in events if isinstance(e, InfoEvent) and e.code == "setup")
    assert "all flips" in setup.splitlines()[0] and "have an up" not in setup  # told, not decided
