"""The training worker: a real tiny run in a QThread, its events as signals, stop/pause, errors, refusals."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from fcnstudio.core.io import write_mask
from fcnstudio.gui.worker import Refusal, Worker, sanity_worker, training_worker
from fcnstudio.train.events import DoneEvent, ErrorEvent, EvalEvent, StepEvent

pytest.importorskip("torch")

NAMES = ("background", "disc", "dot")
COLORS = ((0, 0, 0), (0, 170, 255), (255, 60, 60))


def toy_dataset(root, n=5, size=48, seed=0, binary_255=False, unlabelled=0):
    """``n`` grey images with discs (class 1) and a dot (class 2), a project file; optional 0/255 masks."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n + unlabelled):
        m = np.zeros((size, size), np.uint8)
        for _ in range(2):
            cv2.circle(m, (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8))), int(rng.integers(4, 8)), 1, -1)
        if not binary_255:
            cv2.circle(m, (int(rng.integers(4, size - 4)), int(rng.integers(4, size - 4))), 2, 2, -1)
        img = (40 + 100 * (m == 1) + 200 * (m == 2) + rng.normal(0, 8, m.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"p{i}.png"), img)
        if i < n:
            if binary_255:
                cv2.imwrite(str(root / "masks" / f"p{i}.png"), m * 255)
            else:
                write_mask(root / "masks" / f"p{i}.png", m, list(COLORS))
    if not binary_255:
        project = {"version": 1, "classes": [{"name": a, "color": list(c)} for a, c in zip(NAMES, COLORS)],
                   "label_map": {}, "ignore_index": None}
        (root / "fcnstudio.json").write_text(json.dumps(project))
    return root


def tiny(**kw) -> dict:
    """TrainConfig fields for a run of a few hundred milliseconds on one thread."""
    base = dict(width=4, depth=2, crop_size=32, batch_size=2, num_threads=1, max_steps=12, eval_every_steps=4,
                eval_every_s=60.0, step_event_every=1, warmup_steps=2, lr=3e-3)
    base.update(kw)
    return base


def collect(worker: Worker) -> dict:
    got = {k: [] for k in ("step", "evaluated", "warned", "noted", "done", "failed", "refused", "result")}
    for name, items in got.items():
        getattr(worker, name).connect(items.append)
    return got


@pytest.fixture
def data(tmp_path):
    return toy_dataset(tmp_path / "ds")


def test_a_run_reports_its_events_as_signals_and_ends_its_thread(qtbot, data):
    worker = training_worker(str(data), tiny())
    got = collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=60000):
        worker.start()
    assert worker.wait(1000) and not worker.running
    assert not got["failed"] and not got["refused"], got["failed"] or got["refused"]
    assert [e.step for e in got["step"]] == list(range(1, 13))
    assert all(isinstance(e, StepEvent) for e in got["step"])
    evals = [e.step for e in got["evaluated"]]  # evaluations also wait for a share of the run's time
    assert evals[0] == 4 and evals[-1] == 12
    ev = got["evaluated"][-1]
    assert isinstance(ev, EvalEvent) and 1 <= len(ev.previews) <= 4
    (done,) = got["done"]
    assert isinstance(done, DoneEvent) and not done.stopped and done.steps == 12
    assert {e.code for e in got["noted"]} >= {"device", "data"}


def test_stop_lands_within_a_second_and_keeps_the_weights(qtbot, data):
    worker = training_worker(str(data), tiny(max_steps=100000, eval_every_steps=1000))
    got = collect(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(got["step"]) >= 3, timeout=60000)
    t = time.monotonic()
    with qtbot.waitSignal(worker.finished, timeout=3000):
        worker.stop()
    assert time.monotonic() - t < 1.0
    assert worker.wait(1000)
    (done,) = got["done"]
    assert done.stopped and done.last_checkpoint
    from pathlib import Path
    assert Path(done.last_checkpoint).name == "last.pt" and Path(done.last_checkpoint).is_file()


def test_pause_holds_the_steps_until_resume(qtbot, data):
    worker = training_worker(str(data), tiny(max_steps=100000, eval_every_steps=1000))
    got = collect(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(got["step"]) >= 2, timeout=60000)
    worker.pause()
    qtbot.waitUntil(lambda: any(e.code == "paused" for e in got["noted"]), timeout=1000)
    held = len(got["step"])
    qtbot.wait(500)
    assert len(got["step"]) == held and worker.paused
    worker.resume()
    qtbot.waitUntil(lambda: len(got["step"]) > held, timeout=2000)
    with qtbot.waitSignal(worker.finished, timeout=3000):
        worker.stop()


def test_an_exception_in_the_thread_reaches_the_gui_as_failed(qtbot):
    def job(worker):
        raise RuntimeError("boom")

    worker = Worker(job, "test")
    got = collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    (err,) = got["failed"]
    assert isinstance(err, ErrorEvent) and "boom" in err.message and "RuntimeError" in err.detail
    assert worker.wait(1000)


def test_0_255_masks_are_refused_with_the_findings(qtbot, tmp_path):
    data = toy_dataset(tmp_path / "bin", binary_255=True)
    worker = training_worker(str(data), tiny())
    got = collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=60000):
        worker.start()
    (refusal,) = got["refused"]
    assert isinstance(refusal, Refusal) and "binary-255" in refusal.codes
    assert "binary-255" in refusal.message
    assert not got["step"] and not got["done"]


def test_a_bad_setting_is_refused_not_raised(qtbot, data):
    worker = training_worker(str(data), tiny(loss="no-such-loss"))
    got = collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.start()
    (refusal,) = got["refused"]
    assert "loss" in refusal.message and not refusal.findings


def test_the_lr_range_test_runs_in_the_worker(qtbot, data):
    worker = sanity_worker("lr", str(data), tiny())
    got = collect(worker)
    progress = []
    worker.progress.connect(lambda d, t, loss: progress.append((d, t)))
    with qtbot.waitSignal(worker.finished, timeout=120000):
        worker.start()
    assert not got["failed"], got["failed"]
    (res,) = got["result"]
    assert len(res.lrs) > 5 and res.verdict
    assert progress and progress[-1][0] <= progress[-1][1]
