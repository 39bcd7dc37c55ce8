"""Per-class metrics against hand-counted confusion tables."""

import math

import numpy as np
import pytest
import torch

from fcnstudio.train.metrics import MetricAccumulator, confusion_matrix, metrics_from_confusion

# 3 classes, 2x4 pixels; the last pixel is ignored (255) and mispredicted there.
TARGET = np.array([[0, 0, 1, 1],
                   [0, 2, 2, 255]])
PRED = np.array([[0, 1, 1, 0],
                 [0, 2, 0, 1]])
# labelled pixels (7): t/p pairs 0/0 0/1 1/1 1/0 0/0 2/2 2/0
#   class 0: tp 2, fp 2 (two 1s and the 2 predicted as 0), fn 1
#   class 1: tp 1, fp 1, fn 1
#   class 2: tp 1, fp 0, fn 1


def test_hand_counted_example():
    m = MetricAccumulator(3, ignore_index=255)
    m.update(PRED, TARGET)
    r = m.compute()
    assert (r.tp, r.fp, r.fn) == ((2, 1, 1), (2, 1, 0), (1, 1, 1))
    assert r.labelled_pixels == 7
    assert r.iou == pytest.approx((2 / 5, 1 / 3, 1 / 2))
    assert r.dice == pytest.approx((4 / 7, 2 / 4, 2 / 3))
    assert r.true_fraction == pytest.approx((3 / 7, 2 / 7, 2 / 7))
    assert r.pred_fraction == pytest.approx((4 / 7, 2 / 7, 1 / 7))
    assert r.mean_iou == pytest.approx((2 / 5 + 1 / 3 + 1 / 2) / 3)
    assert r.mean_fg_iou == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_ignored_pixels_do_not_count_whatever_is_predicted():
    cm = confusion_matrix(PRED, TARGET, 3, ignore_index=255)
    assert cm.sum() == 7
    assert cm.tolist() == [[2, 1, 0], [1, 1, 0], [1, 0, 1]]


def test_class_absent_from_truth_and_prediction_is_nan_and_skipped_in_means():
    t = np.array([[0, 1], [0, 1]])
    p = np.array([[0, 1], [1, 1]])
    r = metrics_from_confusion(confusion_matrix(p, t, 3))
    assert math.isnan(r.iou[2]) and math.isnan(r.dice[2])
    assert r.true_fraction[2] == 0.0 and r.pred_fraction[2] == 0.0
    assert r.iou[:2] == pytest.approx((1 / 2, 2 / 3))
    assert r.mean_iou == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert r.mean_fg_iou == pytest.approx(2 / 3)


def test_class_predicted_but_absent_from_truth_scores_zero():
    r = metrics_from_confusion(confusion_matrix(np.array([0, 2]), np.array([0, 0]), 3))
    assert r.iou[2] == 0.0 and r.dice[2] == 0.0
    assert r.pred_fraction[2] == 0.5


def test_accumulating_batches_equals_one_pass_and_accepts_tensors():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 3, (4, 6, 5))
    p = rng.integers(0, 3, (4, 6, 5))
    t[0, 0, :] = 255
    whole = MetricAccumulator(3, 255)
    whole.update(p, t)
    parts = MetricAccumulator(3, 255)
    for i in range(4):
        parts.update(torch.from_numpy(p[i]), torch.from_numpy(t[i]))
    assert parts.compute() == whole.compute()
    parts.reset()
    assert parts.compute().labelled_pixels == 0


def test_merged_accumulators_equal_one_that_saw_every_batch():
    """The evaluation of a distributed run: each process scores some images, the counts merge."""
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, (4, 6, 5))
    p = rng.integers(0, 3, (4, 6, 5))
    prob = rng.random((4, 3, 6, 5)).astype(np.float32)
    t[1, :2] = 255
    whole, mine, theirs = MetricAccumulator(3, 255), MetricAccumulator(3, 255), MetricAccumulator(3, 255)
    for i in range(4):
        whole.update(p[i], t[i], prob[i])
        (mine if i % 2 else theirs).update(p[i], t[i], prob[i])
    empty = MetricAccumulator(3, 255)           # a process that scored no image
    mine.merge(theirs)
    mine.merge(empty)
    assert mine.compute() == whole.compute()
    assert mine.max_prob == whole.max_prob and mine.prob_spread == whole.prob_spread
    with pytest.raises(ValueError):
        mine.merge(MetricAccumulator(2))


def test_no_labelled_pixels_gives_nan_fractions():
    r = metrics_from_confusion(confusion_matrix(np.array([1, 1]), np.array([255, 255]), 2, ignore_index=255))
    assert r.labelled_pixels == 0
    assert all(math.isnan(x) for x in r.true_fraction + r.pred_fraction + r.iou)
    assert math.isnan(r.mean_iou)


def test_max_prob_over_labelled_pixels_only():
    t = np.array([[0, 1], [1, 255]])
    prob = np.zeros((2, 2, 2), np.float32)
    prob[1] = [[0.2, 0.4], [0.3, 0.99]]  # 0.99 sits on the ignored pixel
    prob[0] = 1 - prob[1]
    acc = MetricAccumulator(2, ignore_index=255)
    acc.update(np.zeros_like(t), t, prob)
    assert acc.max_prob == pytest.approx((0.8, 0.4))
    acc.update(np.zeros((1, 2, 2), int), np.zeros((1, 2, 2), int), np.full((1, 2, 2, 2), 0.5, np.float32))
    assert acc.max_prob == pytest.approx((0.8, 0.5))
    assert acc.prob_spread == pytest.approx((0.8 - 0.5, 0.5 - 0.2))  # min and max, ignored pixel left out


def test_a_constant_output_has_zero_spread():
    acc = MetricAccumulator(3)
    prob = np.broadcast_to(np.array([0.7, 0.2, 0.1], np.float32)[:, None, None], (3, 8, 8))
    acc.update(np.zeros((8, 8), int), np.eye(8, dtype=int), prob)
    acc.update(np.zeros((8, 8), int), np.zeros((8, 8), int), prob)
    assert acc.prob_spread == (0.0, 0.0, 0.0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="target values"):
        confusion_matrix(np.array([0, 1]), np.array([0, 255]), 2)
    with pytest.raises(ValueError, match="shapes differ"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="argmax"):
        confusion_matrix(np.zeros(3, np.float32), np.zeros(3, int), 2)
    with pytest.raises(ValueError, match="prob"):
        MetricAccumulator(2).update(np.zeros((2, 2), int), np.zeros((2, 2), int), np.zeros((3, 2, 2)))
