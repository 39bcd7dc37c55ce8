"""Scores: the soft-min baseline, per-class thresholds, region and image scores, and the order of images."""

import math

import cv2
import numpy as np
import pytest

from fcnstudio.core.review.features import gradient_map
from fcnstudio.core.review.regions import Region
from fcnstudio.core.review.scores import (ClassThresholds, region_score, score_fold_images, score_image, self_confidence,
                                          softmin, softmin_quality)

from review_arrays import probs_for, scene

THR = (0.9, 0.9, 0.9)


def test_softmin_is_the_exp_weighted_mean_that_leans_on_the_lowest_values():
    v = np.array([0.2, 0.9, 0.95, 1.0])
    w = np.exp(-v / 0.1)
    assert softmin(v) == pytest.approx(float((v * w).sum() / w.sum()))
    assert v.min() < softmin(v) < v.mean()
    assert softmin(np.full(10, 0.7)) == pytest.approx(0.7)
    assert math.isnan(softmin(np.array([])))
    assert softmin(np.array([0.0, 1.0]), temperature=100.0) == pytest.approx(0.5, abs=0.01)


def test_self_confidence_is_the_labelled_class_probability_without_ignored_pixels():
    probs = np.array([[[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]]], np.float32)
    label = np.array([[0, 0, 255]], np.uint8)
    assert self_confidence(probs, label, ignore_index=255).tolist() == pytest.approx([0.7, 0.2])


def test_the_baseline_ranks_an_image_with_a_confidently_wrong_blob_below_a_clean_one():
    _, truth = scene()
    probs = probs_for(truth)
    wrong = truth.copy()
    wrong[truth == 1] = 0                      # the disc left unlabelled
    assert softmin_quality(probs, wrong) < softmin_quality(probs, truth) - 0.5


def test_class_thresholds_are_the_mean_self_confidence_per_labelled_class():
    _, truth = scene()
    t = ClassThresholds(4)
    t.add(probs_for(truth, conf=0.9, classes=4), truth)
    t.add(probs_for(truth, conf=0.7, classes=4), truth)
    assert t.thresholds[:3] == pytest.approx((0.8, 0.8, 0.8))
    assert math.isnan(t.thresholds[3])          # never labelled


def _region(**features):
    base = {"calibrated": 0.5, "self_confidence": 0.2, "area_fraction": 0.01, "compactness": 0.8, "contact": 0.0,
            "edge_support": math.nan, "neighbour_support": math.nan}
    return Region(box=(0, 0, 10, 10), area=80, kind="missed", label=0, predicted=1, features={**base, **features})


# The directions the calibration on planted errors found (docs/adr/0008-review-scores.md): a planted error is
# a region the model is sure of, whose label it gives almost nothing, small, ragged, not along an image edge,
# covering most of its object and alone of its kind in the fold.
@pytest.mark.parametrize("name,low,high", [("calibrated", 0.1, 0.9), ("self_confidence", 0.6, 0.05),
                                           ("area_fraction", 0.05, 1e-4), ("compactness", 0.9, 0.2),
                                           ("edge_support", 0.5, 0.1), ("neighbour_support", 0.2, 0.9),
                                           ("coverage", 0.1, 0.9), ("fg_contact", 0.0, 0.8),
                                           ("pair_share", 0.01, 1.0)])
def test_each_feature_moves_the_region_score_the_way_the_calibration_found(name, low, high):
    assert 0 < region_score(_region(**{name: low})) < region_score(_region(**{name: high})) < 1


def test_a_confusion_the_model_makes_in_every_image_ranks_below_a_one_off_error_of_the_fold():
    image, truth = scene()
    probs = probs_for(truth)
    grad = gradient_map(image)
    one_off = truth.copy()
    one_off[truth == 1] = 0                     # the disc left unlabelled, in one image
    habit = truth.copy()
    habit[truth == 2] = 0                       # the square left unlabelled, in five images
    alone = [score_image(probs, lab, THR, gradient=grad) for lab in (one_off, habit, habit, habit, habit, habit)]
    assert all(r.features["pair_share"] == 1.0 for im in alone for r in im.regions)
    fold = score_fold_images(alone)
    assert [r.features["pair_share"] for r in fold[1].regions] == [pytest.approx(0.2)]
    assert fold[0].regions[0].features["pair_share"] == 1.0
    assert fold[0].score > max(im.score for im in fold[1:])
    assert all(f.score < a.score for f, a in zip(fold[1:], alone[1:]))   # the habit lost rank


def test_images_with_planted_errors_score_above_clean_ones_and_every_error_is_listed():
    image, truth = scene()
    probs = probs_for(truth)
    grad = gradient_map(image)
    missed = truth.copy()
    missed[truth == 1] = 0
    dilated = truth.copy()
    dilated[(cv2.dilate((truth == 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & (truth == 0)] = 1
    scores = {name: score_image(probs, lab, THR, gradient=grad)
              for name, lab in (("clean", truth), ("missed", missed), ("dilated", dilated))}
    order = sorted(scores, key=lambda n: -scores[n].score)
    assert order[-1] == "clean" and scores["clean"].regions == ()
    assert scores["missed"].regions[0].kind == "missed" and scores["dilated"].regions[0].kind == "border"
    both = missed.copy()
    both[40:44, 100:104] = 1                  # and a small painted speck the model does not see
    regs = score_image(probs, both, THR, gradient=grad).regions
    assert sorted(r.kind for r in regs) == ["extra", "missed"] and regs[0].score >= regs[1].score
    assert min(r.score for r in regs) > scores["clean"].score
