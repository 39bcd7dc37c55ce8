"""Regions where a confident model disagrees with the label: one region per error, the right kind and box."""

import cv2
import numpy as np
import pytest

from fcnstudio.core.review.features import gradient_map
from fcnstudio.core.review.regions import BORDER, EXTRA, MISSED, WRONG_CLASS, extract_regions, flagged_pixels

from review_arrays import C, disc, probs_for, scene

THR = (0.9, 0.9, 0.9)


def regions(label, probs, **kw):
    return extract_regions(probs, label, THR, **kw)


def test_a_clean_label_has_no_region():
    _, truth = scene()
    assert regions(truth, probs_for(truth)) == []


def test_an_unlabelled_object_is_one_missed_region_with_its_box():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0                      # the disc at (40, 40), radius 14, was never painted
    [r] = regions(label, probs_for(truth))
    assert (r.kind, r.label, r.predicted) == (MISSED, 0, 1)
    assert r.box == (26, 26, 29, 29) and r.area == int((truth == 1).sum())


def test_a_painted_blob_where_there_is_nothing_is_extra():
    _, truth = scene()
    label = truth.copy()
    cv2.circle(label, (100, 20), 9, 1, -1)
    [r] = regions(label, probs_for(truth))
    assert (r.kind, r.label, r.predicted) == (EXTRA, 1, 0)
    assert r.box == (91, 11, 19, 19)


def test_a_swapped_class_is_wrong_class():
    _, truth = scene()
    label = truth.copy()
    label[truth == 2] = 1
    [r] = regions(label, probs_for(truth))
    assert (r.kind, r.label, r.predicted) == (WRONG_CLASS, 1, 2)
    assert r.box == (80, 50, 31, 31)


@pytest.mark.parametrize("grow", [True, False])
def test_a_dilated_or_eroded_mask_is_a_border_band_whose_label_edge_is_off_the_image_edge(grow):
    image, truth = scene()
    obj = (truth == 1).astype(np.uint8)
    label = truth.copy()
    if grow:
        label[(cv2.dilate(obj, disc(4)) > 0) & (truth == 0)] = 1
    else:
        label[(cv2.erode(obj, disc(4)) == 0) & (truth == 1)] = 0
    [r] = regions(label, probs_for(truth), gradient=gradient_map(image))
    assert r.kind == BORDER and (r.label, r.predicted) == ((1, 0) if grow else (0, 1))
    assert r.features["width"] <= 6 and r.features["contact"] > 0.6
    # the labelled boundary lies on flat image, the model's on the disc's edge
    assert r.features["edge_support"] < 0.2
    x, y, w, h = r.box
    assert x <= 26 <= x + w and y <= 26 <= y + h and w >= 28    # around the whole disc


def test_a_thin_object_missed_away_from_other_labels_is_missed_not_border():
    truth = np.zeros((64, 64), np.uint8)
    truth[10:54, 30:33] = 1                    # a 3 px wide strap
    label = np.zeros_like(truth)
    [r] = regions(label, probs_for(truth))
    assert r.kind == MISSED


def test_unsure_disagreement_specks_and_ignored_pixels_make_no_region():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0
    assert regions(label, probs_for(truth, conf=0.6)) == []   # 0.6 is below the class's usual 0.9
    speck = truth.copy()
    speck[5:7, 5:8] = 1                                       # 6 px: noise
    assert regions(speck, probs_for(truth)) == []
    ignored = truth.copy()
    ignored[truth == 1] = 255
    assert regions(ignored, probs_for(truth), ignore_index=255) == []


def test_the_class_threshold_decides_what_counts_as_confident():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0
    probs = probs_for(truth, conf=0.75)
    assert len(extract_regions(probs, label, (0.7, 0.7, 0.7))) == 1
    assert extract_regions(probs, label, (0.7, 0.8, 0.7)) == []  # class 1 is usually predicted at 0.8
    flagged, pred, p = flagged_pixels(probs, label, (0.7, np.nan, 0.7))  # never labelled: the floor 0.5 is used
    assert flagged.sum() == (truth == 1).sum()


def test_near_duplicate_neighbours_that_label_the_region_as_the_model_support_it():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0
    [alone] = regions(label, probs_for(truth))
    [backed] = regions(label, probs_for(truth), neighbour_labels=[truth])
    assert np.isnan(alone.features["neighbour_support"]) and backed.features["neighbour_support"] == 1.0


def test_labels_outside_the_classes_are_refused():
    _, truth = scene()
    label = truth.copy()
    label[0, 0] = C
    with pytest.raises(ValueError):
        regions(label, probs_for(truth))
