"""Scores: the soft-min baseline, per-class thresholds, region and image scores, and the order of images."""

import math

import cv2
import numpy as np
import pytest

from fcnstudio.core.review.features import gradient_map
from fcnstudio.core.review.regions import Region
from fcnstudio.core.review.scores import (ClassThresholds, region_score, score_image, self_confidence, softmin,
                                          softmin_quality)

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


@pytest.mark.parametrize("name,low,high", [("calibrated", 0.1, 0.9), ("self_confidence", 0.6, 0.05),
                                           ("area_fraction", 1e-4, 0.05), ("compactness", 0.2, 0.9),
                                           ("edge_support", 0.5, 0.1), ("neighbour_support", 0.2, 0.9)])
def test_each_feature_moves_the_region_score_the_way_it_should(name, low, high):
    assert 0 < region_score(_region(**{name: low})) < region_score(_region(**{name: high})) < 1


def test_images_with_planted_errors_score_above_clean_ones_and_the_worst_error_first():
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
    assert [r.kind for r in regs] == ["missed", "extra"] and regs[0].score > regs[1].score
