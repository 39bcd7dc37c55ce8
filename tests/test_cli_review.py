"""`fcnstudio review`: the JSON on stdout, probs files, the untrusted verdict, refusals, and Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from fcnstudio.cli import main
from fcnstudio.core.review import read_probs, reviews_dir

sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))  # tests/train, for review_data.py
from review_data import CLASSES, frames  # noqa: E402

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


def test_a_review_of_a_model_that_learned_nothing_is_written_but_not_trusted(tmp_path, capsys):
    data, _ = frames(tmp_path / "ds", n=10)
    code = main(["review", str(data), "--folds", "2", "--steps-per-fold", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 1, err
    review = json.loads(out)                                   # stdout is one JSON object
    assert review["trusted"] is False and "too weak to find label errors" in review["reason"]
    assert review["folds"] == 2 and len(review["fold_quality"]) == 2
    for q in review["fold_quality"]:
        assert {"mean_iou", "pixel_accuracy", "iou"} <= set(q) and len(q["iou"]) == 3
    assert len(review["images"]) == 10
    scores = [im["score"] for im in review["images"]]
    assert scores == sorted(scores, reverse=True)
    folder = Path(review["folder"])
    assert folder.parent == reviews_dir(data) and json.loads((folder / "review.json").read_text())["trusted"] is False
    for im in review["images"]:
        assert im["mask"] == f"masks/{im['stem']}.png"
        for r in im["regions"]:
            assert {"box", "score", "kind", "label", "predicted", "area"} <= set(r) and len(r["box"]) == 4
        p = read_probs(folder / im["probs"])
        assert p.probs.dtype == np.float16 and p.probs.shape == (64, 64, 3) and p.classes == CLASSES
        assert np.allclose(p.probs.astype(np.float32).sum(axis=2), 1.0, atol=0.01)
    assert sorted(f.name for f in (folder / "probs").iterdir()) == [f"s{i:02d}.npz" for i in range(10)]


def test_the_human_report_says_why_and_shows_no_ranking_when_untrusted(tmp_path, capsys):
    data, _ = frames(tmp_path / "ds", n=6)
    code = main(["review", str(data), "--folds", "2", "--steps-per-fold", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Not trusted: the model is too weak to find label errors" in out
    assert "masks/s0" not in out and "review.json" in out
    assert "fold 1 of 2: train" in err and "fold 2 of 2: predict" in err   # not a terminal: a line per phase


def test_label_errors_refuse_the_review_with_exit_2(tmp_path, capsys):
    data, _ = frames(tmp_path / "ds", n=4, binary_255=True)
    code = main(["review", str(data), "--steps-per-fold", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "binary-255" in err and "fcnstudio fix" in err
    assert "binary-255" in json.loads(out)["codes"]
    assert not reviews_dir(data).exists()
    assert main(["review", str(data), "--minutes-per-fold", "0"]) == 2
    assert "--minutes-per-fold" in capsys.readouterr().err


def test_ctrl_c_cancels_cleanly_and_keeps_nothing(tmp_path):
    data, _ = frames(tmp_path / "ds", n=6)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "fcnstudio", "review", str(data), "--folds", "2",
                             "--minutes-per-fold", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(REPO))
    line = proc.stderr.readline().decode()
    while line and "train" not in line:
        line = proc.stderr.readline().decode()
    assert "fold 1 of 2: train" in line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"cancelled; nothing was kept" in err and out == b""
    assert list(reviews_dir(data).iterdir()) == []


def test_the_progress_bar_on_a_terminal_redraws_one_line_with_the_fold_and_eta():
    import io

    from fcnstudio.commands.review import ReviewBar
    from fcnstudio.train.review import ReviewProgress

    out = io.StringIO()
    bar = ReviewBar(out, tty=True)
    bar(ReviewProgress(1, 3, "train", 30, 240, eta_s=725.0))
    bar(ReviewProgress(2, 3, "predict", 5, 33, eta_s=61.0))
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") == 2
    assert "fold 1/3 train" in text and "0:30/4:00" in text and "ETA 12:05" in text
    assert "fold 2/3 predict" in text and "5/33" in text and "ETA 1:01" in text
    bar.close()
    assert out.getvalue().endswith("\r")
