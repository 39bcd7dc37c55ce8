"""Accepting a region: exactly its component of confident disagreement takes the model's class; the queue
of regions in either order, its count, and dismissals that a queue read again still hides."""

import math

import numpy as np
import pytest

from fcnstudio.core.review import (ALL_REGIONS, BY_IMAGE, ImageReview, Region, Review, ReviewQueue,
                                   extract_regions, read_dismissals, region_pixels, write_review)
from fcnstudio.core.review.folder import make_review_dir
from fcnstudio.core.review.scores import image_score

from review_arrays import probs_for, scene

THR = (0.9, 0.9, 0.9)


def test_the_pixels_of_a_missed_region_are_its_component_and_no_other():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0          # the disc was never painted (0 -> 1) ...
    label[truth == 2] = 0          # ... nor the square (0 -> 2: another region, another class)
    probs = probs_for(truth)
    disc_region = next(r for r in extract_regions(probs, label, THR) if r.predicted == 1)
    pixels = region_pixels(probs, label, THR, disc_region)
    assert pixels.dtype == bool and np.array_equal(pixels, truth == 1) and not pixels[truth == 2].any()
    fixed = label.copy()
    fixed[pixels] = disc_region.predicted
    assert not region_pixels(probs, fixed, THR, disc_region).any()  # accepted: nothing left of it


def test_only_components_inside_the_box_with_the_same_classes_are_taken():
    _, truth = scene()
    truth[5:15, 100:120] = 1                   # a second disc-class blob, far from the first
    label = truth.copy()
    label[truth == 1] = 0                      # both unlabelled: two missed regions 0 -> 1
    probs = probs_for(truth)
    regions = extract_regions(probs, label, THR)
    first = next(r for r in regions if r.box[0] < 60)
    pixels = region_pixels(probs, label, THR, first)
    assert pixels[40, 40] and not pixels[10, 110] and int(pixels.sum()) == first.area
    shifted = Region(box=(first.box[0] + 5, first.box[1] + 5, 4, 4), area=16, kind=first.kind, label=0, predicted=1)
    assert np.array_equal(region_pixels(probs, label, THR, shifted), pixels)  # any pixel in the box finds it
    other_pair = Region(box=first.box, area=first.area, kind="wrong-class", label=2, predicted=1)
    assert not region_pixels(probs, label, THR, other_pair).any()


def test_ignored_and_unconfident_pixels_are_never_taken():
    _, truth = scene()
    label = truth.copy()
    label[truth == 1] = 0
    label[30:35, 30:50] = 255                  # ignore band across the disc
    probs = probs_for(truth)
    probs[45:50, 30:50] = probs_for(truth, conf=0.6)[45:50, 30:50]  # the model is unsure there
    region = Region(box=(26, 26, 29, 29), area=1, kind="missed", label=0, predicted=1)
    pixels = region_pixels(probs, label, THR, region, ignore_index=255)
    assert pixels.any() and not pixels[30:35, 30:50].any() and not pixels[45:50, 30:50].any()


def _region(box, score, label=0, predicted=1):
    return Region(box=box, area=box[2] * box[3], kind="missed", label=label, predicted=predicted, score=score)


def _review():
    a = ImageReview(mask="masks/a.png", image="images/a.png", stem="a", fold=1, score=0.9, softmin=0.5,
                    regions=(_region((0, 0, 10, 10), 0.8), _region((50, 50, 10, 10), 0.2)), probs="probs/a.npz")
    b = ImageReview(mask="masks/b.png", image="images/b.png", stem="b", fold=2, score=0.7, softmin=0.5,
                    regions=(_region((5, 5, 10, 10), 0.6), _region((30, 5, 10, 10), math.nan)), probs="probs/b.npz")
    return Review(folds=2, trusted=True, reason="", fold_quality=(), images=(a, b), classes=("bg", "cell"))


def test_the_queue_orders_by_image_or_by_region_and_steps_through_it(tmp_path):
    q = ReviewQueue(tmp_path, tmp_path / "r", _review())
    assert q.order == BY_IMAGE
    assert [(it.image.stem, it.region.score) for it in q.items()][:3] == [("a", 0.8), ("a", 0.2), ("b", 0.6)]
    q.set_order(ALL_REGIONS)
    scores = [it.region.score for it in q.items()]
    assert scores[:3] == [0.8, 0.6, 0.2] and math.isnan(scores[3])  # unscored last
    first = q.step(None, 1)
    assert first.region.score == 0.8 and q.step(first.key, 1).region.score == 0.6
    assert q.step(first.key, -1) is None and q.step(None, -1).image.stem == "b"
    with pytest.raises(ValueError):
        q.set_order("random")
    assert q.class_name(1) == "cell" and q.class_name(7) == "class 7"


def test_accepted_regions_stay_listed_dismissed_ones_go_and_stay_gone(tmp_path):
    folder = make_review_dir(tmp_path)
    write_review(folder, _review())
    q = ReviewQueue.read(tmp_path, folder)
    assert q.left == 4
    top = q.step(None, 1)
    q.accept(top)
    assert q.left == 3 and q.is_accepted(top) and q.find(top.key) is not None
    second = q.step(top.key, 1)
    q.dismiss(second)
    assert q.left == 2 and q.find(second.key) is None and len(q.items()) == 3
    assert q.review.images[0].score == pytest.approx(image_score(0.5, [0.8]))  # a rescored without the region
    (d,) = read_dismissals(tmp_path)
    assert (d.mask, d.box, d.review) == ("masks/a.png", (50, 50, 10, 10), folder.name)
    again = ReviewQueue.read(tmp_path, folder)  # a later reading of the review (or a later review) hides it too
    assert again.find(second.key) is None and again.left == 3
