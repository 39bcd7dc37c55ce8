"""The trust gate on fold quality: a model that predicts only background is not trusted whatever its mean IoU,
one that reads the foreground classes is, and the reason names the folds and what they lacked."""

from __future__ import annotations

import numpy as np

from fcnstudio.core.review import FoldQuality, gate_foreground_iou, verdict


def quality(fold: int, label: np.ndarray, pred: np.ndarray, classes: int) -> FoldQuality:
    """A fold's quality the way the review measures it: per-class IoU (NaN for a class in neither labels nor
    prediction), and the gate's foreground IoU over the classes labelled."""
    iou = []
    for k in range(classes):
        inter, union = np.sum((label == k) & (pred == k)), np.sum((label == k) | (pred == k))
        iou.append(inter / union if union else np.nan)
    labelled = np.bincount(label.ravel(), minlength=classes)
    return FoldQuality(fold=fold, images=1, mean_iou=float(np.nanmean(iou)),
                       mean_fg_iou=gate_foreground_iou(iou, labelled),
                       pixel_accuracy=float(np.mean(label == pred)), iou=tuple(iou))


def scene() -> np.ndarray:
    label = np.zeros((100, 100), np.uint8)   # 90 % background, two small classes
    label[10:30, 10:35] = 1
    label[60:80, 50:75] = 2
    return label


def test_a_model_that_predicts_only_background_is_not_trusted_though_its_mean_iou_is_not_low():
    label = scene()
    q = quality(1, label, np.zeros_like(label), 3)
    assert q.pixel_accuracy == 0.9 and q.mean_iou == 0.3  # what a gate on the mean over all classes would pass
    trusted, reason = verdict([q])
    assert not trusted and "fold 1: mean foreground IoU 0.00" in reason and "too weak" in reason


def test_a_model_that_reads_the_foreground_roughly_is_trusted_and_a_weak_fold_is_named():
    label = scene()
    rough = label.copy()
    rough[10:30, 25:35] = 0       # half of class 1 missed
    rough[60:80, 50:60] = 1       # a third of class 2 read as class 1
    good = quality(1, label, rough, 3)
    assert 0.15 < good.mean_fg_iou < 0.6
    assert verdict([good]) == (True, "")
    weak = quality(2, label, np.where(label == 2, 1, 0).astype(np.uint8), 3)   # class 1 never, class 2 as class 1
    trusted, reason = verdict([good, weak])
    assert not trusted and "fold 2:" in reason and "fold 1:" not in reason


def test_a_fold_of_negatives_is_judged_on_its_pixel_accuracy():
    empty = np.zeros((50, 50), np.uint8)   # a block of images without foreground, read as such
    clean = quality(1, empty, empty, 3)
    assert np.isnan(clean.mean_fg_iou) and verdict([clean]) == (True, "")
    phantom = empty.copy()
    phantom[:25] = 1                       # half the background read as class 1
    trusted, reason = verdict([quality(1, empty, phantom, 3)])
    assert not trusted and "pixel accuracy 0.50" in reason


def test_false_positive_specks_in_a_fold_of_negatives_leave_the_review_trusted():
    empty = np.zeros((50, 50), np.uint8)   # a defect dataset whose defects all sorted into the other folds
    specks = empty.copy()
    specks[5:8, 5:8] = specks[30:33, 40:43] = 1   # two 3x3 false detections: class 1's IoU is 0 here
    q = quality(3, empty, specks, 2)
    assert q.iou[1] == 0.0 and np.isnan(q.mean_fg_iou)
    assert verdict([q]) == (True, "")


def test_a_class_predicted_where_none_is_labelled_does_not_drag_the_foreground_iou():
    label = scene()
    label[60:80, 50:75] = 0                # this fold's images hold class 1 only
    pred = label.copy()
    pred[85:90, 85:90] = 2                 # a speck of class 2, which is labelled nowhere here
    q = quality(1, label, pred, 3)
    assert q.iou[2] == 0.0 and q.mean_fg_iou == 1.0
    blind = quality(1, label, np.where(label == 1, 0, label).astype(np.uint8), 3)   # the labelled class unseen
    assert blind.mean_fg_iou == 0.0 and not verdict([blind])[0]
