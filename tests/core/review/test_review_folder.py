"""The review folder: review.json round trip and atomic writes, probs files, dismissals, contiguous folds."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fcnstudio.core.review import (Dismissal, FoldQuality, ImageReview, Region, Review, UnrankedImage, add_dismissal,
                                   contiguous_folds, dismissal_for, filter_review, list_reviews, make_review_dir,
                                   read_dismissals, read_probs, read_review, reviews_dir, write_probs, write_review)
from fcnstudio.core.review.scores import image_score

REPO = Path(__file__).resolve().parents[3]


def region(box, score, kind="missed", label=0, predicted=1):
    return Region(box=box, area=box[2] * box[3], kind=kind, label=label, predicted=predicted, score=score,
                  features={"calibrated": 0.5, "edge_support": math.nan})


def review(n_images=3):
    images = tuple(
        ImageReview(mask=f"masks/im{i}.png", image=f"images/im{i}.png", stem=f"im{i}", fold=1 + i % 2,
                    score=1.0 - i / (n_images + 1), softmin=0.5,
                    regions=(region((10, 10, 20, 20), 0.9 - i / (2 * n_images + 2)),
                             region((50, 5, 4, 30), 0.2, "border")),
                    features={"mean_self_confidence": 0.9}, probs=f"probs/im{i}.npz")
        for i in range(n_images))
    folds = (FoldQuality(fold=1, images=2, mean_iou=0.8, mean_fg_iou=0.7, pixel_accuracy=0.95, iou=(0.9, math.nan),
                         thresholds=(0.95, 0.8), steps=300, run="fold1"),
             FoldQuality(fold=2, images=1, iou=(math.nan, math.nan), run="fold2", collapse=("collapse-background",)))
    return Review(folds=2, trusted=True, reason="", fold_quality=folds, images=images,
                  unranked=(UnrankedImage("masks/x.png", "images/x.png", "x", 2, "fold 2 collapsed"),),
                  classes=("background", "cell"), dataset="/data", created="2025-01-01T00:00:00",
                  settings={"minutes_per_fold": 4.0})


def test_review_json_round_trips_and_holds_the_documented_keys(tmp_path):
    r = review()
    folder = make_review_dir(tmp_path)
    assert folder.parent == reviews_dir(tmp_path) == tmp_path / ".fcnstudio" / "reviews"
    path = write_review(folder, r)
    data = json.loads(path.read_text())
    assert {"folds", "trusted", "fold_quality", "images", "reason", "collapsed_folds"} <= set(data)
    assert {"mean_iou", "pixel_accuracy"} <= set(data["fold_quality"][0]) and data["collapsed_folds"] == [2]
    assert {"mask", "score", "regions"} <= set(data["images"][0])
    assert {"box", "score", "kind", "label", "predicted", "area"} <= set(data["images"][0]["regions"][0])
    assert data["fold_quality"][1]["mean_iou"] is None         # NaN is written as null: strict JSON
    back = read_review(folder)
    assert back.to_json() == r.to_json()
    assert back.images[0].regions[0] == r.images[0].regions[0]


def test_review_folders_get_their_own_names_and_only_finished_ones_are_listed(tmp_path):
    a, b = make_review_dir(tmp_path), make_review_dir(tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
    write_review(a, review())
    assert list_reviews(tmp_path) == [a]                        # b has no review.json: cancelled or killed
    (a / "review.json").write_text("{")
    with pytest.raises(ValueError, match="review.json"):
        read_review(a)


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_review_folder import review
from fcnstudio.core.review import write_review
folder = Path(sys.argv[1])
big = review(4000)
write_review(folder, big)
print("ready", flush=True)
while True:
    write_review(folder, big)
"""


def test_a_writer_killed_mid_write_leaves_a_whole_review_json(tmp_path):
    folder = make_review_dir(tmp_path)
    code = WRITER.format(tests=str(Path(__file__).parent))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))              # somewhere inside a write of ~1 MB
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(read_review(folder).images) == 4000          # the old file or the new one, whole


def test_probs_files_hold_float16_h_w_c_and_the_class_names(tmp_path):
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=(5, 7)).astype(np.float32)
    path = tmp_path / "probs" / "a.npz"
    path.parent.mkdir()
    write_probs(path, p, ["background", "cell", "spot"])
    with np.load(path) as raw:                                  # readable by plain numpy, no pickle
        assert raw["probs"].dtype == np.float16 and raw["probs"].shape == (5, 7, 3)
    back = read_probs(path)
    assert back.classes == ("background", "cell", "spot")
    stored = back.probs.astype(np.float32)
    assert np.abs(stored - p).max() <= 2 ** -11 and np.all(stored * 1024 == np.rint(stored * 1024))
    assert np.allclose(stored.sum(axis=2), 1.0, atol=3 / 2048)
    with pytest.raises(ValueError):
        write_probs(path, p, ["background", "cell"])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        read_probs(tmp_path / "bad.npz")


def test_dismissed_regions_are_remembered_and_filtered_from_this_and_later_reviews(tmp_path):
    r = review()
    first = r.images[0]
    top = first.regions[0]
    add_dismissal(tmp_path, dismissal_for(first, top, review="20250101-000000"))
    add_dismissal(tmp_path, dismissal_for(first, top, review="20250101-000000"))   # twice: kept once
    kept = read_dismissals(tmp_path)
    assert len(kept) == 1 and kept[0].mask == "masks/im0.png" and kept[0].kind == "missed"
    filtered = filter_review(r, kept)
    im0 = next(im for im in filtered.images if im.mask == "masks/im0.png")
    assert top not in im0.regions and len(im0.regions) == 1
    assert im0.score == pytest.approx(image_score(im0.softmin, [0.2]))          # rescored without it
    assert [im.score for im in filtered.images] == sorted((im.score for im in filtered.images), reverse=True)
    assert filtered.images[0].mask != "masks/im0.png"                          # it lost its top region
    # a later review draws the same disagreement a few pixels off: still dismissed; another class is not
    later = Region(box=(12, 11, 20, 19), area=380, kind="missed", label=0, predicted=1, score=0.9)
    other = Region(box=(12, 11, 20, 19), area=380, kind="missed", label=0, predicted=2, score=0.9)
    again = Review(folds=2, trusted=True, reason="", fold_quality=r.fold_quality,
                   images=(ImageReview("masks/im0.png", "images/im0.png", "im0", 1, 0.9, 0.5, (later, other)),))
    assert filter_review(again, read_dismissals(tmp_path)).images[0].regions == (other,)


def test_a_damaged_dismissals_file_is_reported_not_ignored(tmp_path):
    assert read_dismissals(tmp_path) == ()
    reviews_dir(tmp_path).mkdir(parents=True)
    (reviews_dir(tmp_path) / "dismissed.json").write_text('{"dismissed": [{"mask": 1}]}')
    with pytest.raises(ValueError, match="dismissed.json"):
        read_dismissals(tmp_path)
    assert Dismissal("m", (1, 2, 3, 4), "extra", 1, 0).key == ("m", (1, 2, 3, 4), "extra", 1, 0)


def test_folds_are_contiguous_blocks_of_the_naturally_sorted_stems():
    stems = [f"frame{i}" for i in (10, 2, 1, 11, 3, 9, 4, 8, 5, 7, 6)]
    folds = contiguous_folds(stems, 3)
    assert folds == [["frame1", "frame2", "frame3", "frame4"], ["frame5", "frame6", "frame7", "frame8"],
                     ["frame9", "frame10", "frame11"]]
    assert contiguous_folds(["b", "a"], 2) == [["a"], ["b"]]
    for bad in ((["a"], 2), (["a", "b", "c"], 1), (["a", "a"], 2)):
        with pytest.raises(ValueError):
            contiguous_folds(*bad)
