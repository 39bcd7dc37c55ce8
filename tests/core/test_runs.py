"""The runs reader: every state, a torn last line, a folder that is not a run, the curves."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for run_folders.py

from run_folders import make_run  # noqa: E402

from fcnstudio.core.runs import RUNNING_S, list_runs, read_curves  # noqa: E402


def test_each_state_the_scores_and_the_warnings(tmp_path):
    runs = tmp_path / ".fcnstudio" / "runs"
    make_run(runs, "20260101-000001", end="done", warning="loss-plateau")
    make_run(runs, "20260101-000002", end="stopped")
    make_run(runs, "20260101-000003", end="error")
    make_run(runs, "20260101-000004", end=None)  # just written: running
    old = make_run(runs, "20260101-000005", end=None)
    t = time.time() - RUNNING_S - 5
    os.utime(old / "events.jsonl", (t, t))  # no last event and quiet for long: it was killed
    listing = list_runs(tmp_path)
    states = {r.name: r.state for r in listing.runs}
    assert states == {"20260101-000001": "finished", "20260101-000002": "stopped", "20260101-000003": "failed",
                      "20260101-000004": "running", "20260101-000005": "stopped"}
    assert [r.name for r in listing.runs][0] == "20260101-000005"  # newest first
    done = next(r for r in listing.runs if r.name == "20260101-000001")
    assert done.steps == 20 and done.loss == "dice+ce" and done.started.startswith("2026-12-02")
    assert done.settings["lr"] == 1e-3 and done.settings["max_steps"] == 20 and "epochs" not in done.settings
    assert math.isclose(done.best_mean_iou, 0.35)
    assert done.rare_class == "spot" and math.isclose(done.rare_iou, 0.2)  # smallest true fraction, best eval
    assert done.warnings == [("loss-plateau", "loss-plateau seen")]
    assert listing.notes == []


def test_a_torn_last_line_is_skipped_and_a_non_run_folder_is_noted(tmp_path):
    runs = tmp_path / ".fcnstudio" / "runs"
    make_run(runs, "a", torn=True)
    (runs / "notes").mkdir()
    (runs / "notes" / "readme.txt").write_text("mine")
    (runs / "stray.txt").write_text("not a folder")
    listing = list_runs(tmp_path)
    assert [r.name for r in listing.runs] == ["a"] and listing.runs[0].state == "finished"
    assert len(listing.notes) == 1 and "notes" in listing.notes[0] and "not a run folder" in listing.notes[0]
    curves = read_curves(runs / "a")
    assert curves.steps == list(range(1, 21)) and curves.eval_steps == [10, 20]  # the torn eval at 99 is not there
    assert math.isclose(curves.loss[1], 1.0) and len(curves.iou[0]) == 3


def test_no_runs_folder_and_unreadable_files(tmp_path):
    assert list_runs(tmp_path).runs == []
    d = tmp_path / ".fcnstudio" / "runs" / "broken"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{not json")
    (d / "events.jsonl").write_bytes(b"\xff\xfe garbage\n[1, 2]\n")
    (run,) = list_runs(tmp_path).runs
    assert run.steps == 0 and run.config == {} and math.isnan(run.best_mean_iou) and run.rare_class == ""


def test_standing_collapse_follows_warnings_and_their_recoveries():
    from fcnstudio.core.runs import COLLAPSE_CODES, standing_collapse
    from fcnstudio.train.monitor import COLLAPSE_CODES as MONITOR_CODES

    assert COLLAPSE_CODES == MONITOR_CODES
    warn = lambda code, classes: {"event": "warning", "code": code, "classes": classes}  # noqa: E731
    back = lambda clears, classes: {"event": "info", "code": "collapse-recovered", "clears": clears,  # noqa: E731
                                    "classes": classes}
    never1, never2 = warn("class-never-predicted", [1]), warn("class-never-predicted", [2])
    assert standing_collapse([never1, never2, back("class-never-predicted", [2])]) == (("class-never-predicted", (1,)),)
    assert standing_collapse([warn("collapse-background", [1, 2]), back("collapse-background", [2])]) == ()
    assert standing_collapse([warn("loss-plateau", []), {"event": "step"}, "torn"]) == ()
    single = warn("collapse-single-class", [1])
    assert standing_collapse([single, back("class-never-predicted", [0])]) == (("collapse-single-class", (1,)),)
