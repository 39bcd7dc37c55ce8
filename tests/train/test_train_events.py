"""Events: the frozen contract between trainer, GUI and CLI."""

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from fcnstudio.train.events import (
    DoneEvent, ErrorEvent, EvalEvent, InfoEvent, Preview, StepEvent, Suggestion,
    WarningEvent, to_json_line,
)


def _preview(h=4, w=5, c=2, rgb=False):
    img = np.zeros((h, w, 3) if rgb else (h, w), np.uint8)
    return Preview("case_01", img, np.zeros((h, w), np.uint8), np.ones((h, w), np.uint8),
                   np.full((c, h, w), 0.5, np.float16))


def test_step_event_json_and_nan_becomes_null():
    ev = StepEvent(step=3, epoch=0, loss=float("nan"), lr=1e-3, images_per_s=12.5, elapsed_s=1.0, eta_s=None)
    d = ev.to_json()
    assert d == {"event": "step", "step": 3, "epoch": 0, "loss": None, "lr": 1e-3,
                 "images_per_s": 12.5, "elapsed_s": 1.0, "eta_s": None}
    assert json.loads(to_json_line(ev)) == d  # strict JSON: no NaN token
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.step = 4


def test_eval_event_summarises_previews_and_skips_nan_in_means():
    ev = EvalEvent(step=10, val_loss=0.5, iou=[0.9, float("nan"), 0.4], dice=(0.95, float("nan"), 0.57),
                   true_fraction=(0.9, 0.0, 0.1), pred_fraction=(0.92, 0.0, 0.08),
                   max_fg_prob=(1.0, 0.01, 0.8), previews=[_preview(c=3), _preview(c=3, rgb=True)])
    assert ev.iou[1] != ev.iou[1]  # NaN kept as NaN
    assert ev.mean_iou == pytest.approx(0.65)
    assert ev.mean_fg_iou == pytest.approx(0.4)
    d = json.loads(to_json_line(ev))
    assert d["event"] == "eval"
    assert d["iou"] == [0.9, None, 0.4]
    assert d["mean_iou"] == pytest.approx(0.65)
    assert d["previews"] == [{"stem": "case_01", "height": 4, "width": 5, "channels": 1},
                             {"stem": "case_01", "height": 4, "width": 5, "channels": 3}]


def test_eval_event_rejects_mismatched_class_tuples():
    with pytest.raises(ValueError, match="differ in length"):
        EvalEvent(step=1, val_loss=0.1, iou=(1, 1), dice=(1, 1), true_fraction=(1, 0),
                  pred_fraction=(1, 0), max_fg_prob=(1, 0, 0))


def test_preview_validates_and_is_read_only_without_touching_caller_array():
    truth = np.zeros((4, 5), np.uint8)
    p = Preview("a", np.zeros((4, 5), np.uint8), truth, truth.copy(), np.zeros((2, 4, 5), np.float16))
    assert p.num_classes == 2
    with pytest.raises(ValueError):
        p.truth[0, 0] = 1
    truth[0, 0] = 1  # the caller's own array stays writable (and is shared)
    assert p.truth[0, 0] == 1
    with pytest.raises(ValueError, match="prob"):
        Preview("a", np.zeros((4, 5), np.uint8), truth, truth, np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match="truth"):
        Preview("a", np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.int64), truth, np.zeros((2, 4, 5), np.float16))
    with pytest.raises(ValueError, match="numpy"):
        Preview("a", [[0]], truth, truth, np.zeros((2, 4, 5), np.float16))


def test_warning_and_recovered_info_json():
    w = WarningEvent(step=40, code="collapse-background", severity="warning", message="m", diagnosis="d",
                     suggestions=[Suggestion("Switch", {"loss": "dice+ce"}), Suggestion("lr", {"lr": 1e-4})],
                     classes=[1])
    d = json.loads(to_json_line(w))
    assert d["event"] == "warning" and d["code"] == "collapse-background"
    assert d["suggestions"] == [{"label": "Switch", "action": {"loss": "dice+ce"}},
                                {"label": "lr", "action": {"lr": 1e-4}}]
    assert d["classes"] == [1] and "clears" not in d
    info = WarningEvent(step=60, code="collapse-recovered", severity="info", message="back",
                        classes=(1,), clears="collapse-background")
    d = info.to_json()
    assert d["event"] == "info" and d["code"] == "collapse-recovered" and d["clears"] == "collapse-background"
    assert InfoEvent(step=0, code="device", message="cpu").to_json()["event"] == "info"
    with pytest.raises(ValueError, match="severity"):
        WarningEvent(step=1, code="x", severity="error", message="m")


def test_suggestion_action_is_checked_and_read_only():
    s = Suggestion("Open the checker", {"open_checker": True})
    assert s.action == {"open_checker": True}
    with pytest.raises(TypeError):
        s.action["lr"] = 1.0
    with pytest.raises(ValueError, match="action keys"):
        Suggestion("bad", {"learning_rate": 1.0})


def test_done_and_error_json():
    d = DoneEvent(best_checkpoint=None, best_mean_iou=math.nan, last_checkpoint="run/last.pt",
                  steps=100, stopped=True).to_json()
    assert d == {"event": "done", "best_checkpoint": None, "best_mean_iou": None,
                 "last_checkpoint": "run/last.pt", "steps": 100, "stopped": True}
    assert ErrorEvent("Out of memory: use a smaller crop").to_json() == {
        "event": "error", "message": "Out of memory: use a smaller crop", "detail": ""}


def _modules_loaded(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_numpy_side_modules_import_neither_torch_nor_qt():
    mods = _modules_loaded("import fcnstudio.train.events, fcnstudio.train.metrics, "
                           "fcnstudio.train.monitor, fcnstudio.train.augment, fcnstudio.train.plan, "
                           "fcnstudio.train.cadence, fcnstudio.train.control")
    assert "torch" not in mods
    assert not any(m.startswith("PyQt") for m in mods)


def test_torch_modules_do_not_import_qt():
    mods = _modules_loaded("import fcnstudio.train.models, fcnstudio.train.losses")
    assert "torch" in mods
    assert not any(m.startswith("PyQt") for m in mods)
