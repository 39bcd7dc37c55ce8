"""Pre-flight: error findings stop the start with the code, the files and the fix; results are cached."""

import json
import os

import cv2
import numpy as np
import pytest

from fcnstudio.core.dataset import open_dataset
from fcnstudio.train.events import ErrorEvent
from fcnstudio.train.preflight import PreflightError, preflight
from fcnstudio.train.trainer import Trainer, TrainConfig


def binary_dataset(root, top=255, n=3, project=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((32, 40), np.uint8)
        m[5 + i:15 + i, 8:20] = top
        img = (40 + 80 * (m > 0) + rng.integers(0, 30, m.shape)).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"c{i}.png"), img)
        cv2.imwrite(str(root / "masks" / f"c{i}.png"), m)
    if project is not None:
        (root / "fcnstudio.json").write_text(json.dumps(project))
    return root


def test_0_255_masks_are_refused_naming_binary_255_files_and_fix(tmp_path):
    root = binary_dataset(tmp_path / "ds")
    ds = open_dataset(root)
    with pytest.raises(PreflightError) as e:
        preflight(ds, raise_on_error=True, workers=1)
    msg = str(e.value)
    assert "binary-255" in e.value.codes and "binary-255" in msg
    assert "masks/c0.png" in msg
    assert f"fcnstudio fix {root} --code binary-255" in msg


def test_the_trainer_refuses_before_the_first_step(tmp_path):
    root = binary_dataset(tmp_path / "ds")
    events = []
    t = Trainer(root, TrainConfig(width=4, depth=2, crop_size=32, num_threads=1, max_steps=3), callback=events.append)
    with pytest.raises(PreflightError, match="binary-255"):
        t.prepare()
    assert t.run_dir is None and not (root / ".fcnstudio" / "runs").exists()
    # run() (the GUI's entry) turns the refusal into an ErrorEvent, never a step
    t2 = Trainer(root, TrainConfig(width=4, depth=2, crop_size=32, num_threads=1, max_steps=3), callback=events.append)
    result = t2.run()
    assert isinstance(result, ErrorEvent) and "binary-255" in result.message
    assert [type(e).__name__ for e in events] == ["ErrorEvent"]


def test_a_label_map_makes_the_same_masks_fine(tmp_path):
    root = binary_dataset(tmp_path / "ds", project={"classes": ["background", "cell"], "label_map": {"255": 1},
                                                     "ignore_index": None})
    result = preflight(open_dataset(root), workers=1)
    assert result.ok and not result.errors


def test_value_outside_the_label_map_is_an_error_naming_the_file(tmp_path):
    root = binary_dataset(tmp_path / "ds", top=1, project={"classes": ["background", "cell"], "ignore_index": None})
    m = cv2.imread(str(root / "masks" / "c1.png"), cv2.IMREAD_UNCHANGED)
    m[0:3, 0:3] = 5
    cv2.imwrite(str(root / "masks" / "c1.png"), m)
    result = preflight(open_dataset(root), workers=1)
    assert not result.ok and "label-out-of-range" in result.codes
    bad = [f for f in result.errors if f.code == "label-out-of-range"]
    assert any("masks/c1.png" in f.files for f in bad)


def test_results_are_cached_until_a_file_changes(tmp_path):
    root = binary_dataset(tmp_path / "ds", top=1, project={"classes": ["background", "cell"], "ignore_index": None})
    ds = open_dataset(root)
    first = preflight(ds, workers=1)
    assert first.ok and not first.from_cache
    assert (root / ".fcnstudio" / "check_cache.json").exists()
    again = preflight(ds, workers=1)
    assert again.from_cache and [f.code for f in again.findings] == [f.code for f in first.findings]
    assert list(again.stats.class_fraction) == pytest.approx(list(first.stats.class_fraction))
    mask = root / "masks" / "c2.png"
    st = mask.stat()
    os.utime(mask, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not preflight(ds, workers=1).from_cache


def test_a_current_check_is_used_as_it_is_and_a_stale_one_is_not(tmp_path):
    from fcnstudio.core.checker.run import check_dataset

    root = binary_dataset(tmp_path / "ds", top=1, project={"classes": ["background", "cell"], "ignore_index": None})
    ds = open_dataset(root)
    check = check_dataset(ds, workers=1)
    assert check.is_current()
    reused = preflight(ds, check=check, workers=1)
    assert reused.findings == check.findings and reused.stats == check.stats
    assert not (root / ".fcnstudio" / "check_cache.json").exists()  # no check ran, nothing cached
    (root / "images" / "c3.png").write_bytes((root / "images" / "c0.png").read_bytes())  # a new file
    assert not check.is_current()
    rechecked = preflight(open_dataset(root), check=check, workers=1)
    assert not rechecked.from_cache and "missing-mask" in {f.code for f in rechecked.findings}
    assert (root / ".fcnstudio" / "check_cache.json").exists()


def test_a_declared_project_equal_to_the_file_does_not_make_the_check_stale(tmp_path):
    from fcnstudio.core.checker.run import check_dataset
    from fcnstudio.core.labels import load_project

    root = binary_dataset(tmp_path / "ds", top=1, project={"classes": ["background", "cell"], "ignore_index": None})
    check = check_dataset(root, workers=1)
    project = load_project(open_dataset(root))
    assert check.is_current(project.with_changes(training={"lr": 0.1}))  # training settings do not count
    renamed = project.with_changes(classes=(project.classes[0], project.classes[1].__class__("nucleus", (9, 9, 9))))
    assert not check.is_current(renamed)
