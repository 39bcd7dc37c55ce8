"""What makes the defaults learn more per CPU minute: precision with its fall-back, the wall-clock schedule,
the residual U-Net's checkpoints, and checkpoints written before it."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fcnstudio.train.cadence import WARMUP_SHARE
from fcnstudio.train.checkpoint import load_checkpoint
from fcnstudio.train.events import DoneEvent, InfoEvent, StepEvent
from fcnstudio.train.models import build_model
from fcnstudio.train.precision import Precision, choose, native_bf16
from fcnstudio.train.predict import Predictor
from fcnstudio.train.trainer import Trainer, TrainConfig

from test_trainer import toy_dataset

torch.set_num_threads(1)
CPU = torch.device("cpu")
#: written by FCN Studio 0.1 before the residual U-Net (a 6-step U-Net run on toy_dataset's classes)
OLD_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoint-before-resunet.pt"


def resunet():
    torch.manual_seed(0)
    return build_model({"arch": "resunet", "in_channels": 1, "num_classes": 3, "base_width": 8, "depth": 2})


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fp32_is_float32_and_auto_follows_the_processor():
    model = resunet()
    assert choose("fp32", False, model, 1, CPU) == Precision(False, False, "float32")
    auto = choose("auto", True, resunet(), 1, CPU)
    assert auto.bf16 == native_bf16(CPU)
    assert ("native bf16" in auto.note)


def test_the_trial_step_leaves_the_weights_and_statistics_as_they_were():
    model = resunet()
    before = state(model)
    p = choose("bf16", True, model, 1, CPU)
    assert same(before, state(model))
    assert all(param.grad is None for param in model.parameters())
    assert p.channels_last == model.body.stem[0][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_a_failing_bf16_trial_falls_back_to_float32_and_says_so():
    tried = []

    def trial(model, precision, in_channels, device):
        tried.append((precision.bf16, precision.channels_last))
        return not precision.bf16

    model = resunet()
    before = state(model)
    p = choose("bf16", True, model, 1, CPU, trial=trial)
    assert (p.bf16, p.channels_last) == (False, True) and "failed a trial step" in p.note
    assert tried == [(True, True), (False, True)]
    assert same(before, state(model))


def test_when_channels_last_fails_too_the_model_is_contiguous_again():
    model = resunet()
    p = choose("auto", True, model, 1, CPU, trial=lambda m, prec, c, d: not prec.channels_last)
    assert (p.bf16, p.channels_last) == (False, False)
    assert all(w.is_contiguous() for w in model.parameters())


def test_bf16_training_learns_and_keeps_float32_weights(tmp_path):
    """Forced bf16 (emulated where the processor has none): the loss falls, the checkpoint stays float32."""
    data = toy_dataset(tmp_path / "ds")
    events = []
    cfg = TrainConfig(width=8, depth=2, crop_size=32, batch_size=4, num_threads=1, max_steps=40, lr=3e-3,
                      eval_every_steps=40, step_event_every=1, warmup_steps=3, preflight=False, precision="bf16",
                      out_dir=str(tmp_path / "run"))
    t = Trainer(data, cfg, callback=events.append)
    assert isinstance(t.run(), DoneEvent)
    assert t.precision.bf16
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert all(v.dtype in (torch.float32, torch.int64) for v in ck["model"].values())


class FakeClock:
    """Monotonic seconds that move ``tick`` each time they are read: a slow machine, with no sleeping."""

    def __init__(self, tick):
        self.t, self.tick = 1000.0, tick

    def __call__(self):
        self.t += self.tick
        return self.t


def test_a_max_minutes_run_ends_its_warm_up_and_decay_with_the_clock_not_the_steps(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    cfg = TrainConfig(arch="unet", width=4, depth=2, crop_size=32, batch_size=2, num_threads=1, max_steps=None,
                      max_minutes=1.0, warmup_steps=1000, eval_every_steps=10**6, eval_every_s=10**6,
                      step_event_every=1, preflight=False)
    clock = FakeClock(tick=0.5)
    done = Trainer(data, cfg, callback=events.append, clock=clock).run()
    assert isinstance(done, DoneEvent) and not done.stopped
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert 10 < len(steps) < 1000    # the clock, not a step count, ended it
    lrs = [e.lr for e in steps]
    peak = int(np.argmax(lrs))
    # 1000 warm-up steps would never end; the warm-up gives way after WARMUP_SHARE of the minute
    assert steps[peak].elapsed_s <= WARMUP_SHARE * 60 + 5
    assert lrs[peak] > 0.9 * cfg.lr
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))      # then only down
    assert steps[-1].elapsed_s >= 60 * cfg.max_minutes - 5
    assert lrs[-1] <= cfg.lr * (cfg.min_lr_fraction + 0.02)            # the end of the cosine at the end of time


def test_a_checkpoint_from_before_the_residual_unet_predicts_and_resumes(tmp_path):
    ck = load_checkpoint(OLD_CHECKPOINT)
    assert ck["model_config"]["arch"] == "unet" and "input_scale" not in ck
    image = (np.random.default_rng(0).random((45, 61)) * 255).astype(np.uint8)
    classes, prob = Predictor(ck).predict(image)
    assert classes.shape == (45, 61) and prob.shape == (3, 45, 61)
    data = toy_dataset(tmp_path / "ds")
    resume = shutil.copy(OLD_CHECKPOINT, tmp_path / "old.pt")
    events = []
    t = Trainer(data, TrainConfig(resume=str(resume), max_steps=ck["step"] + 3, num_threads=1, batch_size=2,
                                  crop_size=32, preflight=False, out_dir=str(tmp_path / "run")),
                callback=events.append)
    done = t.run()
    assert isinstance(done, DoneEvent), getattr(done, "detail", done)
    assert done.steps == ck["step"] + 3
    assert t.model.model_config == ck["model_config"] and t.input_scale.scale == 1.0
    assert any(isinstance(e, InfoEvent) and e.code == "resumed" for e in events)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["input_scale"] == 1.0
