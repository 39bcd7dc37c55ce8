"""The review on a real (tiny) dataset: fold models, held-out probabilities, a planted error found first,
collapsed folds not ranked, refusals before anything is written, and a clean cancel."""

import json
import threading

import numpy as np
import pytest
import torch

from fcnstudio.core.review import box_iou, read_probs, read_review, reviews_dir
from fcnstudio.train.config import TrainConfig
from fcnstudio.train.errors import DataError
from fcnstudio.train.preflight import PreflightError
from fcnstudio.train.review import run_review

from review_data import CLASSES, frames

torch.set_num_threads(1)


def tiny(**kw):
    # a plain U-Net: at 64 px the residual U-Net's stride-4 stem leaves too little for a 120-step fold model
    base = dict(arch="unet", width=8, depth=2, crop_size=48, batch_size=8, num_threads=1, eval_every_steps=40,
                eval_every_s=60.0, warmup_steps=10, max_previews=0)
    base.update(kw)
    return TrainConfig(**base)


def test_a_review_finds_the_unlabelled_square_first_and_keeps_held_out_probabilities(tmp_path):
    data, boxes = frames(tmp_path / "ds", planted=7)
    seen = []
    out = run_review(data, folds=2, minutes_per_fold=None, steps_per_fold=120, config=tiny(), progress=seen.append)
    review = out.review
    assert not out.cancelled and out.folder.parent == reviews_dir(data)
    assert read_review(out.folder).to_json() == review.to_json()
    assert review.trusted, review.reason
    assert [q.fold for q in review.fold_quality] == [1, 2] and review.collapsed_folds == []
    assert len(review.images) == 12 and review.unranked == ()
    top = review.images[0]
    assert top.stem == "s07" and top.mask == "masks/s07.png" and top.fold == 2
    region = top.regions[0]
    assert (region.kind, region.label, region.predicted) == ("missed", 0, 2)
    assert box_iou(region.box, boxes["s07"]) > 0.3
    assert [im.score for im in review.images] == sorted((im.score for im in review.images), reverse=True)
    for im in review.images:
        p = read_probs(out.folder / im.probs)
        assert p.probs.dtype == np.float16 and p.probs.shape == (64, 64, 3) and p.classes == CLASSES
        assert np.allclose(p.probs.astype(np.float32).sum(axis=2), 1.0, atol=0.01)
    # each fold model trained on the other fold only, and its run folder is inside the review folder
    for i, held in ((1, [f"s{k:02d}" for k in range(6)]), (2, [f"s{k:02d}" for k in range(6, 12)])):
        cfg = json.loads((out.folder / f"fold{i}" / "config.json").read_text())
        assert not set(cfg["train_stems"]) & set(held) and set(cfg["val_stems"]) == set(held)
        assert (out.folder / f"fold{i}" / "last.pt").is_file()
    phases = [(p.fold, p.phase) for p in seen]
    assert (1, "train") in phases and (2, "predict") in phases and (2, "score") in phases
    assert all(p.eta_s is None or p.eta_s >= 0 for p in seen)


def test_folds_whose_model_collapsed_are_reported_and_not_ranked(tmp_path):
    data, _ = frames(tmp_path / "ds", n=6)
    # a loss that rewards background only: a collapse warning still stands when the runs end
    cfg = tiny(loss="weighted-ce", class_weights=[1.0, 0.0, 0.0], lr=3e-2, eval_every_steps=3, warmup_steps=1)
    review = run_review(data, folds=2, minutes_per_fold=None, steps_per_fold=40, config=cfg).review
    assert review.collapsed_folds == [1, 2]
    assert all(q.collapse == ("collapse-background",) for q in review.fold_quality)
    assert review.images == () and len(review.unranked) == 6
    assert all("collapsed" in u.reason for u in review.unranked)
    assert not review.trusted and "too weak" in review.reason


def test_a_class_the_model_never_predicts_is_named_and_the_fold_still_ranked(tmp_path):
    data, _ = frames(tmp_path / "ds", n=6)
    # class 2 weighs nothing: the model learns background and class 1 and never predicts class 2
    cfg = tiny(loss="weighted-ce", class_weights=[1.0, 1.0, 0.0], lr=3e-2, eval_every_steps=3, warmup_steps=1)
    review = run_review(data, folds=2, minutes_per_fold=None, steps_per_fold=40, config=cfg).review
    assert review.collapsed_folds == [] and len(review.images) == 6
    assert all(q.never_predicted == (2,) for q in review.fold_quality)
    assert json.loads(json.dumps(review.to_json()))["fold_quality"][0]["never_predicted"] == [2]


def test_label_errors_and_too_few_pairs_refuse_the_review_before_anything_is_written(tmp_path):
    data, _ = frames(tmp_path / "bin", n=4, binary_255=True)
    with pytest.raises(PreflightError) as err:
        run_review(data, folds=2, steps_per_fold=2, config=tiny())
    assert "binary-255" in err.value.codes
    small, _ = frames(tmp_path / "small", n=2)
    with pytest.raises(DataError, match="3 folds need at least 3"):
        run_review(small, folds=3, steps_per_fold=2, config=tiny())
    assert not reviews_dir(data).exists() and not reviews_dir(small).exists()


@pytest.mark.parametrize("phase,steps", [("train", 400), ("predict", 20)])
def test_a_cancelled_review_leaves_no_folder_and_no_review_json(tmp_path, phase, steps):
    data, _ = frames(tmp_path / "ds", n=6)
    stop = threading.Event()

    def progress(p):
        if p.phase == phase:
            stop.set()

    out = run_review(data, folds=2, minutes_per_fold=None, steps_per_fold=steps, config=tiny(), progress=progress,
                     stop=stop.is_set)
    assert stop.is_set() and out.cancelled and out.review is None
    assert list(reviews_dir(data).iterdir()) == []


def test_a_fold_s_foreground_iou_counts_the_classes_labelled_in_its_images():
    from fcnstudio.train.review_fold import FoldPrediction
    # rows: labelled background / class 1 / class 2; columns: predicted. Class 2 is labelled nowhere in this
    # fold, but the model put 5 pixels of it on the background.
    confusion = np.array([[90, 0, 5], [2, 8, 0], [0, 0, 0]])
    q = FoldPrediction(confusion=confusion).quality
    assert q["iou"][2] == 0.0 and q["mean_fg_iou"] == pytest.approx(0.8)  # class 1 alone: 8 / (8 + 2)
    negatives = np.array([[95, 5, 0], [0, 0, 0], [0, 0, 0]])  # no foreground labelled: nothing to measure
    assert np.isnan(FoldPrediction(confusion=negatives).quality["mean_fg_iou"])
