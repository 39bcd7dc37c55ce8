"""`fcnstudio train` / `fcnstudio predict`: JSON lines only on stdout, exit codes, palette PNG output."""

import json

import cv2
import numpy as np
import torch
from PIL import Image

from fcnstudio.cli import main
from fcnstudio.core.io import write_mask

torch.set_num_threads(1)

KEYS = {
    "step": {"step", "epoch", "loss", "lr", "images_per_s", "elapsed_s", "eta_s"},
    "eval": {"step", "iou", "dice", "true_fraction", "pred_fraction", "val_loss", "image_spread", "untrained_spread"},
    "warning": {"code", "message", "suggestions"},
    "info": {"code", "message"},
    "done": {"best_checkpoint", "best_mean_iou"},
    "error": {"message"},
}
TINY = ["--max-steps", "6", "--width", "4", "--depth", "2", "--crop", "32", "--batch", "2", "--eval-every", "3"]


def dataset(root, binary_255=False):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        m = np.zeros((40, 40), np.uint8)
        cv2.circle(m, (int(rng.integers(10, 30)), int(rng.integers(10, 30))), 7, 1, -1)
        img = (50 + 100 * m + rng.integers(0, 20, m.shape)).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"im{i}.png"), img)
        if binary_255:
            cv2.imwrite(str(root / "masks" / f"im{i}.png"), m * 255)
        else:
            write_mask(root / "masks" / f"im{i}.png", m, [(0, 0, 0), (0, 200, 100)])
    if not binary_255:
        (root / "fcnstudio.json").write_text(json.dumps(
            {"classes": [{"name": "background", "color": [0, 0, 0]}, {"name": "cell", "color": [0, 200, 100]}],
             "ignore_index": None}))
    return root


def _events(out):
    lines = [line for line in out.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]   # every line is one JSON object
    for e in events:
        assert KEYS[e["event"]] <= set(e), e
    return events


def test_json_log_prints_only_json_events_and_exits_0(tmp_path, capsys):
    data = dataset(tmp_path / "ds")
    code = main(["train", str(data), "--json-log", "--seed", "1", *TINY])
    out, err = capsys.readouterr()
    assert code == 0, err
    events = _events(out)
    kinds = [e["event"] for e in events]
    assert kinds.count("eval") == 2 and kinds[-1] == "done" and "step" in kinds
    done = events[-1]
    assert done["steps"] == 6 and done["best_checkpoint"].endswith("best.pt")
    ev = next(e for e in events if e["event"] == "eval")
    assert len(ev["iou"]) == 2 and len(ev["true_fraction"]) == 2


def test_human_progress_goes_to_stderr_only(tmp_path, capsys):
    code = main(["train", str(dataset(tmp_path / "ds")), *TINY])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert "eval @ 3" in err and "best mean foreground IoU" in err


def test_binary_255_masks_are_refused_before_the_first_step(tmp_path, capsys):
    data = dataset(tmp_path / "ds", binary_255=True)
    code = main(["train", str(data), "--json-log", *TINY])
    out, err = capsys.readouterr()
    assert code == 2
    assert "binary-255" in err and "fcnstudio fix" in err
    events = _events(out)
    assert [e["event"] for e in events] == ["error"]
    assert "binary-255" in events[0]["message"] and events[0]["codes"] == ["binary-255"]
    assert not (data / ".fcnstudio" / "runs").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    data = dataset(tmp_path / "ds")
    assert main(["train", str(tmp_path / "nowhere"), *TINY]) == 2
    assert main(["train", str(data), "--lr", "-1", *TINY]) == 2
    assert main(["train", str(data), "--resume", str(tmp_path / "missing.pt"), *TINY]) == 2
    if not torch.cuda.is_available():
        assert main(["train", str(data), "--device", "cuda", *TINY]) == 2
    err = capsys.readouterr().err
    assert "no such checkpoint" in err


def test_predict_writes_palette_pngs_with_valid_classes(tmp_path, capsys):
    data = dataset(tmp_path / "ds")
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), *TINY]) == 0
    assert (run / "best.pt").exists() and (run / "events.jsonl").exists()
    big = (np.random.default_rng(3).integers(0, 255, (70, 90))).astype(np.uint8)   # sliding windows
    cv2.imwrite(str(tmp_path / "big.png"), big)
    capsys.readouterr()
    out = tmp_path / "pred"
    code = main(["predict", str(run / "best.pt"), str(data / "images"), str(tmp_path / "big.png"),
                 "--out", str(out), "--tile", "32"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == ["big.png", "im0.png", "im1.png", "im2.png"]
    assert len(stdout.splitlines()) == 4
    for p in written:
        with Image.open(p) as im:
            assert im.mode == "P"
            assert im.getpalette()[3:6] == [0, 200, 100]          # the class colours of the checkpoint
            arr = np.array(im)
        assert arr.max() < 2
    assert np.array(Image.open(out / "big.png")).shape == (70, 90)


def test_predict_refuses_bad_checkpoints(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"\x80not really a pickle" * 10)
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    assert main(["predict", str(tmp_path / "junk.pt"), str(img), "--out", str(tmp_path / "o")]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "junk.pt"), str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2


def test_an_absurd_learning_rate_is_reported_as_diverging_with_a_lower_lr(tmp_path, capsys):
    data = dataset(tmp_path / "ds")
    code = main(["train", str(data), "--json-log", "--seed", "0", "--lr", "1000", *TINY[:1], "12", *TINY[2:]])
    out, err = capsys.readouterr()
    assert code == 0, err
    events = _events(out)
    [w] = [e for e in events if e["event"] == "warning" and e["code"] == "loss-diverging"]
    assert "untrained network" in w["message"] and w["step"] <= 6
    lowered = [s["action"]["lr"] for s in w["suggestions"] if "lr" in s["action"]]
    assert lowered and lowered[0] <= 1e-3
    assert events[-1]["event"] == "done"
