"""The trainer: a real (tiny) run, events, stop/pause from another thread, checkpoints, resume, NaN."""

import json
import math
import threading
import time

import cv2
import numpy as np
import pytest
import torch

from fcnstudio.core.io import write_mask
from fcnstudio.train.checkpoint import CheckpointError, load_checkpoint
from fcnstudio.train.events import (DoneEvent, ErrorEvent, EvalEvent, InfoEvent, StepEvent, WarningEvent)
from fcnstudio.train.trainer import Trainer, TrainConfig

torch.set_num_threads(1)


def toy_dataset(root, n=4, size=48, seed=0, classes=("background", "disc", "dot")):
    """``n`` grey images with bright discs (class 1) and a small brighter dot (class 2)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        for _ in range(2):
            cv2.circle(m, (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8))),
                       int(rng.integers(4, 8)), 1, -1)
        if len(classes) > 2:
            cv2.circle(m, (int(rng.integers(4, size - 4)), int(rng.integers(4, size - 4))), 2, 2, -1)
        img = (40 + 100 * (m == 1) + 200 * (m == 2) + rng.normal(0, 8, m.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"p{i}.png"), img)
        write_mask(root / "masks" / f"p{i}.png", m)
    (root / "fcnstudio.json").write_text(json.dumps({"classes": list(classes), "ignore_index": None}))
    return root


def tiny(**kw):
    base = dict(arch="unet", width=4, depth=2, crop_size=32, batch_size=4, num_threads=1, max_steps=20,
                eval_every_steps=10, eval_every_s=60.0, step_event_every=1, warmup_steps=3, preflight=False)
    base.update(kw)
    return TrainConfig(**base)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_a_real_run_lowers_the_loss_and_writes_its_folder(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(lr=3e-3, preflight=True), callback=events.append)
    done = t.run()
    assert isinstance(done, DoneEvent), getattr(done, "detail", done)
    assert done.steps == 20 and not done.stopped
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [e.step for e in steps] == list(range(1, 21))
    first, last = np.mean([e.loss for e in steps[:3]]), np.mean([e.loss for e in steps[-3:]])
    assert last < first * 0.9, (first, last)
    evals = [e for e in events if isinstance(e, EvalEvent)]
    assert [e.step for e in evals] == [10, 20]
    assert isinstance(events[0], InfoEvent) and events[-1] is done
    # previews: at most 4, downscaled, and together they show every class present in validation
    ev = evals[-1]
    assert 1 <= len(ev.previews) <= 4
    shown = set().union(*(set(np.unique(p.truth)) for p in ev.previews))
    present = {c for c, f in enumerate(ev.true_fraction) if f > 0}
    assert present <= shown
    for p in ev.previews:
        assert p.prob.dtype == np.float16 and p.prob.shape[0] == 3 and max(p.image.shape[:2]) <= 256
    # the run folder: inside the dataset, config + one JSON line per event + both checkpoints
    run = t.run_dir
    assert run.parent == data / ".fcnstudio" / "runs"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["max_steps"] == 20 and cfg["classes"] == ["background", "disc", "dot"]
    lines = (run / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(events) and json.loads(lines[-1])["event"] == "done"
    best = load_checkpoint(done.best_checkpoint)
    last = load_checkpoint(done.last_checkpoint)
    assert last["step"] == 20 and best["class_names"] == ["background", "disc", "dot"]
    assert last["channels"] == "grey" and last["normalisation"]["kind"] == "per-image-zscore"
    assert math.isfinite(done.best_mean_iou) or done.best_mean_iou != done.best_mean_iou


def _run_in_thread(t):
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("result", t.run()), daemon=True)
    th.start()
    return th, out


def _wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_stop_from_another_thread_lands_within_a_second(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(max_steps=None, crop_size=48, batch_size=8, eval_every_steps=5), callback=events.append)
    th, out = _run_in_thread(t)
    assert _wait_for(lambda: any(isinstance(e, EvalEvent) for e in events))
    t0 = time.monotonic()
    t.stop()
    th.join(5)
    assert not th.is_alive()
    assert time.monotonic() - t0 < 1.0
    done = out["result"]
    assert isinstance(done, DoneEvent) and done.stopped
    assert load_checkpoint(done.last_checkpoint)["step"] == done.steps


def test_pause_holds_the_loop_and_resume_continues(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(max_steps=None), callback=events.append)
    th, out = _run_in_thread(t)
    assert _wait_for(lambda: t.step >= 2)
    t.pause()
    assert _wait_for(lambda: t.state == "paused")
    held = t.step
    time.sleep(0.3)
    assert t.step == held and t.paused
    t.resume()
    assert _wait_for(lambda: t.step > held + 2)
    t.stop()
    th.join(5)
    assert isinstance(out["result"], DoneEvent)
    codes = [e.code for e in events if isinstance(e, InfoEvent)]
    assert "paused" in codes and "resumed" in codes


def test_stop_while_paused_ends_the_run(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    t = Trainer(data, tiny(max_steps=None))
    th, out = _run_in_thread(t)
    assert _wait_for(lambda: t.step >= 1)
    t.pause()
    assert _wait_for(lambda: t.state == "paused")
    t.stop()
    th.join(2)
    assert not th.is_alive() and out["result"].stopped


def test_resume_continues_the_step_with_equal_weights(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    first = Trainer(data, tiny(max_steps=6, eval_every_steps=3))
    done = first.run()
    assert isinstance(done, DoneEvent) and done.steps == 6
    ck = load_checkpoint(done.last_checkpoint)
    second = Trainer(data, tiny(max_steps=9, eval_every_steps=3, resume=done.last_checkpoint))
    second.prepare()
    assert second.step == 6
    for k, v in second.model.state_dict().items():
        assert torch.equal(v, ck["model"][k]), k
    assert second.optimizer.state_dict()["state"]  # Adam moments restored
    assert [second.store.stem(i) for i in second.val_idx] == ck["val_stems"]
    done2 = second.run()
    assert isinstance(done2, DoneEvent) and done2.steps == 9
    assert second.run_dir != first.run_dir
    assert load_checkpoint(done2.last_checkpoint)["step"] == 9
    assert first.last_eval.untrained_spread and second.last_eval.untrained_spread == ()  # not after a resume


def test_resume_refuses_a_checkpoint_for_other_classes(tmp_path):
    done = Trainer(toy_dataset(tmp_path / "a"), tiny(max_steps=2)).run()
    other = toy_dataset(tmp_path / "b", classes=("background", "thing"))
    with pytest.raises(CheckpointError, match="3 classes"):
        Trainer(other, tiny(resume=done.last_checkpoint)).prepare()


def test_same_seed_same_weights(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    runs = []
    for _ in range(2):
        t = Trainer(data, tiny(max_steps=3, seed=5))
        assert isinstance(t.run(), DoneEvent)
        runs.append(weights(t.model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_nan_loss_skips_the_step_and_warns(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(max_steps=6, eval_every_steps=100), callback=events.append)
    t.prepare()
    real = t.loss_fn
    seen = {}

    def loss(logits, target):
        value = real(logits, target)
        if t.step == 2:  # the third step
            seen["before"] = params(t.model)
            return value * float("nan")
        if t.step == 3:
            seen["after"] = params(t.model)
        return value

    t.loss_fn = loss
    done = t.run()
    assert isinstance(done, DoneEvent) and done.steps == 6
    assert all(torch.equal(seen["before"][k], seen["after"][k]) for k in seen["before"])
    warns = [e for e in events if isinstance(e, WarningEvent)]
    assert [w.code for w in warns] == ["loss-nan"] and warns[0].step == 3


def test_an_exception_inside_run_becomes_an_error_event(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(), callback=events.append)
    t.prepare()

    def broken(rng, n):
        raise RuntimeError("disk on fire")

    t.sampler.batch = broken
    result = t.run()
    assert isinstance(result, ErrorEvent) and "disk on fire" in result.message
    assert "Traceback" in result.detail and events[-1] is result


def test_apply_changes_lr_and_loss_between_steps(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    t = Trainer(data, tiny(max_steps=4, warmup_steps=0, eval_every_steps=100), callback=events.append)
    t.prepare()
    t.apply({"lr": 1e-4, "loss": "weighted-ce", "class_weights": "auto"})
    assert isinstance(t.run(), DoneEvent)
    assert t.loss_name == "weighted-ce" and len(t.class_weights) == 3 and t.class_weights[2] > t.class_weights[0]
    assert {e.code for e in events if isinstance(e, InfoEvent)} >= {"lr", "loss"}
    with pytest.raises(ValueError):
        t.apply({"lr": -1})


def test_pause_holds_an_evaluation_between_validation_images(tmp_path):
    data = toy_dataset(tmp_path / "ds", n=6)
    events = []
    box = {}

    def callback(e):
        events.append(e)
        if isinstance(e, StepEvent) and e.step == 10:   # the evaluation of step 10 comes next
            box["t"].pause()

    t = box["t"] = Trainer(data, tiny(max_steps=None, val_fraction=0.5), callback=callback)
    th, out = _run_in_thread(t)
    assert _wait_for(lambda: t.state == "paused")
    time.sleep(0.3)
    assert t.step == 10 and not any(isinstance(e, EvalEvent) for e in events)
    t.resume()
    assert _wait_for(lambda: any(isinstance(e, EvalEvent) for e in events))
    t.stop()
    th.join(5)
    assert isinstance(out["result"], DoneEvent)
    [ev] = [e for e in events if isinstance(e, EvalEvent) and e.step == 10]
    assert [e.code for e in events if isinstance(e, InfoEvent) and e.code in ("paused", "resumed")][:2] == \
        ["paused", "resumed"]
    assert events.index(ev) > max(i for i, e in enumerate(events) if isinstance(e, InfoEvent) and e.code == "resumed")


def test_a_network_dead_from_the_first_evaluation_is_diverging_at_the_second(tmp_path):
    data = toy_dataset(tmp_path / "ds")
    events = []
    # plain Dice is bounded, so at lr 10 the loss cannot blow up: only the dead output tells
    Trainer(data, tiny(lr=10.0, loss="dice", seed=2, eval_every_steps=5), callback=events.append).run()
    evals = [e for e in events if isinstance(e, EvalEvent)]
    assert evals[0].untrained_spread and max(evals[0].untrained_spread) >= 0.01  # measured before the first step
    assert evals[0].image_spread > 0.02 and max(evals[0].prob_spread) < 1e-3
    [dead] = [e for e in events if isinstance(e, WarningEvent) and e.code == "loss-diverging"]
    assert dead.step == evals[1].step and "from the first evaluation on" in dead.message
    assert dict(dead.suggestions[0].action) == {"lr": 0.001}
    sane = []
    Trainer(data, tiny(lr=1e-3, loss="dice", seed=2, eval_every_steps=5), callback=sane.append).run()
    assert "loss-diverging" not in [e.code for e in sane if isinstance(e, WarningEvent)]
