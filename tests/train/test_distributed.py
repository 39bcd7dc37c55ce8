"""`fcnstudio train` under torchrun: two CPU processes (gloo) take the steps one process takes.

The runs are real: `torchrun --standalone --nproc-per-node 2 -m fcnstudio train …` in a child process,
then the same command without torchrun, and their checkpoints compared. The loss is `ce`, the
normalisation `group` and the precision float32, under which each step's gradient is the whole batch's;
the Dice losses and batch norm on the CPU cannot be (the README says why). The comparisons are of two
steps: the processes add the same numbers in a different order (about 1e-7 apart), and training
amplifies rounding like any other — at the default lr, one seed in five already differs by 3e-5 after 8
steps, as one process does from itself started from nudged weights (bench/ddp.py measures both).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fcnstudio.core.io import write_mask
from fcnstudio.core.runs import list_runs, read_run
from fcnstudio.train.checkpoint import load_checkpoint
from fcnstudio.train.config import ConfigError
from fcnstudio.train.distributed import Group, start
from fcnstudio.train.distributed_loop import check_batch, labelled_weight

REPO = Path(__file__).resolve().parents[2]
#: global batch 4 (2 crops a process); rotations fill crops with ignored pixels, so the shares' losses
#: divide by different pixel counts (what the loss scaling is for)
#: float32: bf16 autocast rounds to 3 digits, and the equality is one of float rounding
ARGS = ["--json-log", "--loss", "ce", "--norm", "group", "--model", "unet", "--width", "4", "--depth", "2",
        "--crop", "32", "--input-scale", "1", "--precision", "fp32", "--batch", "4", "--seed", "3", "--skip-check"]
#: after 2 steps: measured at most 3e-7 (seeds 0-4); without the loss scaling 2e-3
WEIGHTS_TOL = 1e-5
#: AdamW's first moments (the average gradient), relative: measured at most 3e-6; without the scaling 7e-3
MOMENTS_TOL = 1e-4
RUN_FILES = {"config.json", "events.jsonl", "best.pt", "last.pt"}


def dataset(root, n=6, size=40, wrong_size=False, binary_255=False):
    """``n`` grey images with one bright disc (class 1); ``wrong_size``: images a pixel wider than their masks;
    ``binary_255``: masks stored as 0/255 (the checker refuses them)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        cv2.circle(m, (int(rng.integers(10, size - 10)), int(rng.integers(10, size - 10))), 7, 1, -1)
        img = (50 + 100 * m + rng.integers(0, 30, m.shape)).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"im{i}.png"), np.pad(img, ((0, 0), (0, 1))) if wrong_size else img)
        if binary_255:
            cv2.imwrite(str(root / "masks" / f"im{i}.png"), m * 255)
        else:
            write_mask(root / "masks" / f"im{i}.png", m, [(0, 0, 0), (0, 200, 100)])
    if binary_255:
        return root
    (root / "fcnstudio.json").write_text(json.dumps(
        {"classes": [{"name": "background", "color": [0, 0, 0]}, {"name": "cell", "color": [0, 200, 100]}],
         "ignore_index": None}))
    return root


def _env():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def torchrun(*args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]


def fcnstudio(*args):
    return [sys.executable, "-m", "fcnstudio", *args]


def run(argv, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120)


def events_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # every line one JSON object


def max_weight_diff(a, b):
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert wa.keys() == wb.keys()
    return max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa)


def max_moment_rel_diff(a, b):
    """AdamW's first moments (the steps' average gradient): the largest difference, relative to the largest
    moment (of any weight: a tensor whose gradient is near 0 would make its own ratio rounding noise)."""
    sa, sb = load_checkpoint(a)["optimizer"]["state"], load_checkpoint(b)["optimizer"]["state"]
    assert sa.keys() == sb.keys() and sa
    diff = max(float((sa[k]["exp_avg"].double() - sb[k]["exp_avg"].double()).abs().max()) for k in sa)
    return diff / max(float(sa[k]["exp_avg"].double().abs().max()) for k in sa)


def test_two_processes_train_the_weights_of_one_process_with_the_same_global_batch(tmp_path):
    data = dataset(tmp_path / "ds")
    steps = ["--max-steps", "2", "--eval-every", "1"]
    two = run(torchrun("-m", "fcnstudio", "train", str(data), *ARGS, *steps))
    assert two.returncode == 0, two.stderr[-3000:]
    one = run(fcnstudio("train", str(data), *ARGS, *steps, "--out", str(tmp_path / "one")))
    assert one.returncode == 0, one.stderr[-3000:]

    # one run folder, written by process 0 alone, that the Runs dock lists as finished
    (folder,) = (data / ".fcnstudio" / "runs").iterdir()
    assert {p.name for p in folder.iterdir()} == RUN_FILES
    assert json.loads((folder / "config.json").read_text())["processes"] == 2
    (listed,) = list_runs(data).runs
    assert listed.state == "finished" and listed.steps == 2
    # stdout is process 0's events, the same as events.jsonl, one JSON object a line
    logged = events_of((folder / "events.jsonl").read_text())
    assert events_of(two.stdout) == logged
    kinds = [e["event"] for e in logged]
    assert kinds.count("done") == 1 and kinds[-1] == "done" and "error" not in kinds
    assert any(e["event"] == "info" and e["code"] == "distributed" for e in logged)

    # the weights of the single process, to float rounding; the evaluations score the same pixels
    diff = max_weight_diff(folder / "last.pt", tmp_path / "one" / "last.pt")
    assert diff <= WEIGHTS_TOL, diff
    moments = max_moment_rel_diff(folder / "last.pt", tmp_path / "one" / "last.pt")
    assert moments <= MOMENTS_TOL, moments
    ev2 = [e for e in logged if e["event"] == "eval"]
    ev1 = [e for e in events_of(one.stdout) if e["event"] == "eval"]
    assert [e["step"] for e in ev2] == [e["step"] for e in ev1] == [1, 2]
    for a, b in zip(ev2, ev1):
        assert a["true_fraction"] == b["true_fraction"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-4)
    assert load_checkpoint(folder / "last.pt")["step"] == 2


def test_an_error_in_one_process_ends_both_with_one_error_event(tmp_path):
    """Process 1's copy of the dataset has images a pixel wider than their masks: its first batch fails."""
    dataset(tmp_path / "machine0" / "ds")
    dataset(tmp_path / "machine1" / "ds", wrong_size=True)
    argv = torchrun(str(REPO / "tests" / "train" / "two_machines.py"), str(tmp_path / "machine0"),
                    str(tmp_path / "machine1"), "train", "ds", *ARGS, "--max-steps", "50")
    t0 = time.monotonic()
    proc = run(argv)
    assert time.monotonic() - t0 < 60          # no process waits for the other until a timeout
    assert proc.returncode != 0
    printed = events_of(proc.stdout)
    errors = [e for e in printed if e["event"] == "error"]
    assert len(errors) == 1 and "done" not in [e["event"] for e in printed]
    assert "process 1 of 2" in errors[0]["message"] and "im" in errors[0]["message"]
    assert "exitcode  : 1" in proc.stderr      # torchrun's report: each process ended with exit 1
    assert "exitcode  : -" not in proc.stderr  # … on its own, not killed by a signal
    (folder,) = (tmp_path / "machine0" / "ds" / ".fcnstudio" / "runs").iterdir()
    assert [e["event"] for e in events_of((folder / "events.jsonl").read_text())].count("error") == 1
    assert read_run(folder).state == "failed"
    assert not (tmp_path / "machine1" / "ds" / ".fcnstudio").exists()   # process 1 wrote nothing


def test_a_refusal_in_one_process_refuses_the_run_before_any_folder_is_made(tmp_path):
    """Process 1's copy holds 0/255 masks: its label check refuses them, and process 0 says so."""
    dataset(tmp_path / "machine0" / "ds")
    dataset(tmp_path / "machine1" / "ds", binary_255=True)
    args = [a for a in ARGS if a != "--skip-check"]
    proc = run(torchrun(str(REPO / "tests" / "train" / "two_machines.py"), str(tmp_path / "machine0"),
                        str(tmp_path / "machine1"), "train", "ds", *args, "--max-steps", "5"))
    assert proc.stderr.count("exitcode  : 2") == 2      # both refused (exit 2), neither killed
    (error,) = events_of(proc.stdout)
    assert error["event"] == "error" and error["codes"] == ["binary-255"]
    assert error["message"].startswith("process 1 of 2: ")
    assert not (tmp_path / "machine0" / "ds" / ".fcnstudio" / "runs").exists()


def _rank_pid(parent: int, rank: int, timeout=30.0) -> int:
    """The pid of the torchrun worker with RANK=rank (a child of the torchrun process ``parent``)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent \
                        and f"RANK={rank}".encode() in (d / "environ").read_bytes().split(b"\0"):
                    return int(d.name)
            except (OSError, IndexError, ValueError):
                continue
        time.sleep(0.1)
    raise AssertionError(f"no process with RANK={rank} under {parent}")


def test_a_stop_in_one_process_stops_both_and_the_run_resumes_like_one_process(tmp_path):
    data = dataset(tmp_path / "ds")
    out = tmp_path / "run"
    proc = subprocess.Popen(torchrun("-m", "fcnstudio", "train", str(data), *ARGS, "--out", str(out),
                                     "--max-steps", "100000", "--eval-every", "1000000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        worker = _rank_pid(proc.pid, 1)
        for line in proc.stdout:                       # wait for training to be under way
            if json.loads(line)["event"] == "step":
                break
        os.kill(worker, signal.SIGTERM)                # as torchrun or a scheduler ends a process
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    done = events_of(rest)[-1]
    assert done["event"] == "done" and done["stopped"] is True and done["steps"] > 0
    stopped_at = load_checkpoint(out / "last.pt")["step"]
    assert stopped_at == done["steps"]

    more = ["--resume", str(out / "last.pt"), "--max-steps", str(stopped_at + 2)]
    two = run(torchrun("-m", "fcnstudio", "train", str(data), *ARGS, *more, "--out", str(tmp_path / "two")))
    assert two.returncode == 0, two.stderr[-3000:]
    one = run(fcnstudio("train", str(data), *ARGS, *more, "--out", str(tmp_path / "one")))
    assert one.returncode == 0, one.stderr[-3000:]
    two_pt, one_pt = tmp_path / "two" / "last.pt", tmp_path / "one" / "last.pt"
    assert load_checkpoint(two_pt)["step"] == stopped_at + 2
    assert json.loads((tmp_path / "two" / "config.json").read_text())["start_step"] == stopped_at
    assert max_weight_diff(two_pt, one_pt) <= WEIGHTS_TOL
    assert max_moment_rel_diff(two_pt, one_pt) <= MOMENTS_TOL
    # the two steps did train: their gradients moved the moments (the weights move little, the lr being at
    # the end of its decay)
    assert max_moment_rel_diff(two_pt, out / "last.pt") > 100 * MOMENTS_TOL


# ---------------------------------------------------------------------------- the parts, in one process

def test_without_torchrun_a_run_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert start("cpu") is None
    monkeypatch.setenv("WORLD_SIZE", "1")     # torchrun with one process: the plain run
    assert start("cpu") is None


def test_each_process_takes_every_world_th_crop_and_needs_one():
    g = [Group(rank=r, world=3, local_world=3, device=torch.device("cpu"), backend="gloo") for r in range(3)]
    assert [list(x.part(7)) for x in g] == [[0, 3, 6], [1, 4], [2, 5]]
    check_batch(3, g[0])
    with pytest.raises(ConfigError, match="--batch 3"):
        check_batch(2, g[0])


def test_a_share_weighs_as_much_as_the_loss_divides_by():
    """Scaled by these, the mean of the processes' losses is the whole batch's (module docstring)."""
    from fcnstudio.train.losses import make_loss

    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, (4, 6, 6))
    masks[0, :3] = 255
    masks[3] = 255                                       # a crop with no labelled pixel
    logits = torch.from_numpy(rng.normal(size=(4, 3, 6, 6))).float()
    for name, weights in (("ce", None), ("weighted-ce", [0.5, 1.0, 4.0]), ("focal", [1.0, 2.0, 3.0])):
        loss = make_loss(name, 3, 255, weights)
        whole = float(loss(logits, torch.from_numpy(masks)))
        total = labelled_weight(masks, 255, name, weights)
        parts = [slice(0, 4, 2), slice(1, 4, 2)]
        mean = sum(float(loss(logits[p], torch.from_numpy(masks[p])))
                   * 2 * labelled_weight(masks[p], 255, name, weights) / total for p in parts) / 2
        assert mean == pytest.approx(whole, rel=1e-6), name
    assert labelled_weight(masks, 255, "dice+ce", None) == 0.0   # not a pixel mean: not scaled


def test_evaluation_parts_of_two_processes_merge_into_the_single_process_event(tmp_path):
    from fcnstudio.train.evaluation import EvalPart
    from fcnstudio.train.trainer import TrainConfig, Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(arch="unet", width=4, depth=2, crop_size=32, val_fraction=0.5, max_previews=3, preflight=False,
                      seed=1, precision="fp32", input_scale=1)
    t = Trainer(dataset(tmp_path / "ds", n=8), cfg)
    t.prepare(make_run_dir=False)
    assert len(t.val_eval) >= 3

    def score(indices):
        return t.evaluator.score(t.model, t.loss_fn, indices, t.preview_idx, between=lambda: None,
                                 stop=lambda: False, drop=lambda i, why: None, keep_last=False)

    whole = t.evaluator.event(score(t.val_eval), step=5)
    parts = [score(t.val_eval[r::2]) for r in (1, 0)]       # any order of processes
    merged = t.evaluator.event(EvalPart.merged(parts, t.val_eval), step=5)
    assert merged.iou == whole.iou and merged.true_fraction == whole.true_fraction
    assert merged.pred_fraction == whole.pred_fraction and merged.prob_spread == whole.prob_spread
    assert merged.val_loss == whole.val_loss and merged.image_spread == whole.image_spread
    assert [p.stem for p in merged.previews] == [p.stem for p in whole.previews] and len(whole.previews) > 1
