"""Sanity tools: overfit one batch (with a plain-words verdict) and the LR range test."""

import json
import threading

import cv2
import numpy as np
import torch

from fcnstudio.core.io import write_mask
from fcnstudio.train.config import TrainConfig
from fcnstudio.train.sanity import lr_range_test, overfit_one_batch

torch.set_num_threads(1)


def toy_dataset(root, n=4, size=32, noise_labels=False):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        cv2.circle(m, (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8))), 6, 1, -1)
        img = (40 + 120 * (m == 1) + rng.normal(0, 6, m.shape)).clip(0, 255).astype(np.uint8)
        if noise_labels:  # labels that have nothing to do with the image
            m = (rng.random(m.shape) < 0.3).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"p{i}.png"), img)
        write_mask(root / "masks" / f"p{i}.png", m)
    (root / "fcnstudio.json").write_text(json.dumps({"classes": ["background", "disc"], "ignore_index": None}))
    return root


def cfg(**kw):
    base = dict(width=8, depth=2, crop_size=32, batch_size=4, num_threads=1, preflight=False, lr=1e-2)
    base.update(kw)
    return TrainConfig(**base)


def test_overfit_one_batch_learns_good_labels(tmp_path):
    seen = []
    r = overfit_one_batch(toy_dataset(tmp_path / "ds"), cfg(), steps=150, progress=lambda i, n, l: seen.append(l))
    assert r.ok, r.verdict
    assert r.final_loss < 0.5 * r.initial_loss and r.classes_predicted == (0, 1)
    assert "can learn these labels" in r.verdict
    assert len(seen) == r.steps == len(r.losses)
    assert not (tmp_path / "ds" / ".fcnstudio" / "runs").exists()   # writes nothing


def test_overfit_one_batch_blames_model_loss_or_labels_when_it_cannot(tmp_path):
    r = overfit_one_batch(toy_dataset(tmp_path / "ds", noise_labels=True), cfg(width=2, lr=1e-3), steps=15)
    assert not r.ok
    assert "model, the loss or the labels" in r.verdict and "not the amount of data" in r.verdict


def test_overfit_one_batch_stops_when_asked(tmp_path):
    stop = threading.Event()
    stop.set()
    r = overfit_one_batch(toy_dataset(tmp_path / "ds"), cfg(), steps=150, stop=stop)
    assert r.stopped and r.steps == 0 and "Stopped" in r.verdict


def test_lr_range_test_sweeps_and_suggests(tmp_path):
    r = lr_range_test(toy_dataset(tmp_path / "ds"), cfg(), steps=40)
    n = len(r.lrs)
    assert 5 <= n <= 40 and len(r.losses) == n == len(r.smoothed)
    ratios = r.lrs[1:] / r.lrs[:-1]
    assert np.allclose(ratios, ratios[0])             # exponential
    assert r.lrs[0] == 1e-6
    if r.suggested_lr is not None:
        assert r.min_loss_lr / 30 <= r.suggested_lr * 1.05 and r.suggested_lr <= r.min_loss_lr / 3 * 1.05
        assert "Suggested learning rate" in r.verdict
    else:
        assert "did not fall" in r.verdict


def test_lr_range_test_stops_early_when_the_loss_explodes(tmp_path):
    r = lr_range_test(toy_dataset(tmp_path / "ds"), cfg(), start_lr=1e-3, end_lr=1e4, steps=40)
    assert r.exploded_at is not None and len(r.lrs) < 40
