"""Pixel-level tests of the editing tools in fcnstudio.core.edits."""

from collections import deque
from fractions import Fraction
import tracemalloc

import cv2
import numpy as np
import pytest

from fcnstudio.core.edits import Change, Rect, brush, erase, fill, pick, polygon, put


def capsule_brute(shape, p0, p1, r):
    """Exact (rational arithmetic) set of pixel centres within r of segment p0-p1."""
    h, w = shape
    ax, ay = (Fraction(v) for v in p0)
    bx, by = (Fraction(v) for v in p1)
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    r2 = Fraction(r) ** 2
    out = np.zeros(shape, bool)
    for y in range(h):
        for x in range(w):
            t = Fraction(0) if l2 == 0 else min(Fraction(1), max(Fraction(0), ((x - ax) * dx + (y - ay) * dy) / l2))
            cx, cy = ax + t * dx, ay + t * dy
            out[y, x] = (x - cx) ** 2 + (y - cy) ** 2 <= r2
    return out


def flood_brute(mask, x, y):
    """4-connected region of mask[y, x]'s value, by breadth-first search."""
    h, w = mask.shape
    v = mask[y, x]
    seen = np.zeros(mask.shape, bool)
    seen[y, x] = True
    todo = deque([(y, x)])
    while todo:
        cy, cx = todo.popleft()
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and mask[ny, nx] == v:
                seen[ny, nx] = True
                todo.append((ny, nx))
    return seen


def check_change(before, after, change):
    """The Change describes exactly the pixels that differ, and nothing else."""
    diff = before != after
    if change is None:
        assert not diff.any()
        return
    assert isinstance(change, Change)
    ys, xs = np.nonzero(diff)
    assert change.rect == Rect(ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)  # tight
    np.testing.assert_array_equal(change.changed, diff[change.rect.slices])
    np.testing.assert_array_equal(change.old, before[change.rect.slices])
    np.testing.assert_array_equal(change.new, after[change.rect.slices])
    assert change.count == diff.sum()
    np.testing.assert_array_equal(change.old_values, before[diff])
    np.testing.assert_array_equal(change.new_values, after[diff])


# ----------------------------------------------------------------------------- Rect


def test_rect_helpers():
    a, b = Rect(1, 2, 4, 6), Rect(3, 0, 5, 3)
    assert (a.height, a.width, a.shape, a.area) == (3, 4, (3, 4), 12)
    assert a.union(b) == Rect(1, 0, 5, 6)
    assert a.intersection(b) == Rect(3, 2, 4, 3)
    assert a.intersection(Rect(10, 10, 12, 12)).is_empty
    empty = Rect(0, 0, 0, 0)
    assert empty.is_empty and empty.union(a) == a and a.union(empty) == a and a.union(None) == a
    m = np.arange(60).reshape(6, 10)
    assert m[a.slices].shape == a.shape


def test_rect_rejects_bad_input():
    with pytest.raises(ValueError, match="y0 <= y1"):
        Rect(5, 0, 4, 3)
    with pytest.raises(ValueError, match="int"):
        Rect(0.5, 0, 4, 3)


# ----------------------------------------------------------------------------- brush


@pytest.mark.parametrize(
    "p0, p1, r",
    [
        ((10, 10), (10, 10), 3),  # one disc, integer: ties on the circle are included
        ((4, 5), (20, 9), 2.5),
        ((3, 20), (21, 2), 4),  # diagonal, integer ties along the strip
        ((7.3, 3.8), (15.6, 17.1), 3.2),
        ((12.5, 12.5), (12.5, 12.5), 0.5),  # between four centres: nothing within 0.5
        ((-6.2, 4.1), (5.7, -3.3), 5.0),  # starts and ends outside the image
        ((2, 12), (30, 12), 1),  # horizontal, leaves the image
    ],
)
def test_brush_paints_exactly_the_capsule(p0, p1, r):
    mask = np.zeros((24, 24), np.uint8)
    before = mask.copy()
    change = brush(mask, p0, p1, radius=r, value=3)
    expected = capsule_brute(mask.shape, p0, p1, r)
    np.testing.assert_array_equal(mask == 3, expected)
    check_change(before, mask, change)


def test_brush_random_float_segments_match_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(15):
        p0, p1 = rng.uniform(-4, 22, 2), rng.uniform(-4, 22, 2)
        r = float(rng.uniform(0.6, 6))
        mask = np.zeros((18, 18), np.uint8)
        brush(mask, tuple(p0), tuple(p1), radius=r, value=1)
        np.testing.assert_array_equal(mask == 1, capsule_brute(mask.shape, p0, p1, r))


def test_brush_preserve_paints_only_background():
    mask = np.zeros((20, 20), np.uint8)
    mask[:, 10:] = 2
    mask[5, 5] = 4
    before = mask.copy()
    change = brush(mask, (0, 5), (19, 5), radius=3, value=1, preserve=True)
    capsule = capsule_brute(mask.shape, (0, 5), (19, 5), 3)
    np.testing.assert_array_equal(mask[before != 0], before[before != 0])  # classes untouched
    np.testing.assert_array_equal(mask == 1, capsule & (before == 0))
    check_change(before, mask, change)


def test_brush_without_preserve_overwrites_classes():
    mask = np.full((10, 10), 2, np.uint8)
    brush(mask, (5, 5), (5, 5), radius=2, value=1)
    np.testing.assert_array_equal(mask == 1, capsule_brute(mask.shape, (5, 5), (5, 5), 2))


def test_brush_returns_none_when_nothing_changes():
    mask = np.ones((10, 10), np.uint8)
    assert brush(mask, (5, 5), (6, 6), radius=3, value=1) is None
    assert brush(mask, (50, 50), (60, 70), radius=3, value=2) is None  # off the image
    assert brush(mask, (-1e300, 5), (-1e299, 5), radius=3, value=2) is None
    assert brush(mask, (5, 5), (5, 5), radius=3, value=0, preserve=True) is None
    assert (mask == 1).all()


def test_brush_far_endpoint_is_clipped_not_crashing():
    mask = np.zeros((16, 16), np.uint8)
    brush(mask, (-1e300, 8), (1e300, 8), radius=2, value=1)
    expected = np.zeros((16, 16), bool)
    expected[6:11] = True
    np.testing.assert_array_equal(mask == 1, expected)


def test_eraser_writes_background_or_ignore_value():
    mask = np.full((12, 12), 3, np.uint8)
    before = mask.copy()
    change = erase(mask, (2, 6), (9, 6), radius=2)
    np.testing.assert_array_equal(mask == 0, capsule_brute(mask.shape, (2, 6), (9, 6), 2))
    check_change(before, mask, change)
    erase(mask, (6, 0), (6, 11), radius=1, value=255)
    np.testing.assert_array_equal(mask == 255, capsule_brute(mask.shape, (6, 0), (6, 11), 1))


def test_brush_on_uint16_mask():
    mask = np.zeros((12, 12), np.uint16)
    brush(mask, (6, 6), (6, 6), radius=3, value=1000)
    np.testing.assert_array_equal(mask == 1000, capsule_brute(mask.shape, (6, 6), (6, 6), 3))


def test_brush_cost_follows_the_segment_not_the_image():
    """No full-mask temporaries: peak numpy allocation is tiny on a 4000^2 mask."""
    mask = np.zeros((4000, 4000), np.uint8)
    tracemalloc.start()
    try:
        brush(mask, (1000, 1000), (1010, 1005), radius=12, value=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000, f"brush allocated {peak} bytes on a 16 Mpx mask"


# ----------------------------------------------------------------------------- fill


def test_fill_is_4_connected():
    mask = np.zeros((7, 7), np.uint8)
    mask[3, :] = 1
    mask[:, 3] = 1
    mask[2, 2] = 1  # diagonal neighbour of (3,3)... and 4-neighbour of (3,2)
    mask[5, 5] = 0
    mask[6, 6] = 2
    before = mask.copy()
    change = fill(mask, (0, 0), value=5)  # top-left quadrant of zeros
    expected = np.zeros((7, 7), bool)
    expected[:3, :3] = True
    expected[2, 2] = False
    np.testing.assert_array_equal(mask == 5, expected)
    check_change(before, mask, change)


def test_fill_does_not_leak_through_diagonals():
    mask = np.zeros((6, 6), np.uint8)
    mask[np.arange(6), np.arange(6)] = 1  # a diagonal line of class 1
    fill(mask, (0, 5), value=2)  # below the diagonal
    np.testing.assert_array_equal(mask == 2, np.tril(np.ones((6, 6), bool), -1))
    fill(mask, (0, 0), value=3)  # diagonal pixels touch only diagonally: one pixel
    assert (mask == 3).sum() == 1 and mask[0, 0] == 3


def test_fill_matches_breadth_first_search_on_random_masks():
    rng = np.random.default_rng(3)
    for dtype in (np.uint8, np.uint16):
        for _ in range(10):
            mask = rng.integers(0, 3, (20, 25)).astype(dtype)
            x, y = int(rng.integers(0, 25)), int(rng.integers(0, 20))
            expected = flood_brute(mask, x, y)
            before = mask.copy()
            change = fill(mask, (x, y), value=7)
            np.testing.assert_array_equal(mask == 7, expected)
            check_change(before, mask, change)


def test_fill_preserve_only_fills_background():
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 2
    assert fill(mask, (6, 3), value=1, preserve=True) is None  # clicked class 2
    assert (mask[:, 4:] == 2).all()
    fill(mask, (1, 1), value=1, preserve=True)
    assert (mask[:, :4] == 1).all() and (mask[:, 4:] == 2).all()


def test_fill_noops():
    mask = np.ones((8, 8), np.uint8)
    assert fill(mask, (-1, 3), value=2) is None
    assert fill(mask, (3, 8), value=2) is None
    assert fill(mask, (3, 3), value=1) is None  # same value
    assert (mask == 1).all()
    assert fill(mask, (7.4, 7.4), value=2) is not None  # rounds to pixel (7, 7)
    assert (mask == 2).all()


# ----------------------------------------------------------------------------- polygon


def test_rectangle_polygon_fills_the_rectangle_with_its_boundary():
    mask = np.zeros((10, 10), np.uint8)
    before = mask.copy()
    change = polygon(mask, [(2, 3), (6, 3), (6, 7), (2, 7)], value=1)
    expected = np.zeros((10, 10), bool)
    expected[3:8, 2:7] = True
    np.testing.assert_array_equal(mask == 1, expected)
    check_change(before, mask, change)
    assert change.rect == Rect(3, 2, 8, 7)


def test_polygon_rounds_vertices_to_pixel_centres():
    mask = np.zeros((10, 10), np.uint8)
    polygon(mask, [(1.6, 2.6), (6.4, 2.6), (6.4, 7.4), (1.6, 7.4)], value=1)
    expected = np.zeros((10, 10), bool)
    expected[3:8, 2:7] = True
    np.testing.assert_array_equal(mask == 1, expected)


def test_polygon_matches_fillpoly_on_the_whole_mask_with_points_outside():
    rng = np.random.default_rng(11)
    for _ in range(20):
        pts = rng.integers(-15, 45, (int(rng.integers(3, 12)), 2))
        mask = rng.integers(0, 3, (30, 30)).astype(np.uint8)
        reference = mask.copy()
        cv2.fillPoly(reference, [pts.astype(np.int32)], 4)
        before = mask.copy()
        change = polygon(mask, pts, value=4)
        np.testing.assert_array_equal(mask, reference)
        check_change(before, mask, change)


def test_polygon_preserve_paints_only_background():
    mask = np.zeros((10, 10), np.uint8)
    mask[:, 5:] = 2
    before = mask.copy()
    change = polygon(mask, [(0, 0), (9, 0), (9, 9), (0, 9)], value=1, preserve=True)
    assert (mask[:, :5] == 1).all() and (mask[:, 5:] == 2).all()
    check_change(before, mask, change)


def test_polygon_with_far_away_vertices():
    mask = np.zeros((30, 30), np.uint8)
    polygon(mask, [(-1e12, 10), (1e12, 10), (1e12, 20), (-1e12, 20)], value=1)
    expected = np.zeros((30, 30), bool)
    expected[10:21] = True
    np.testing.assert_array_equal(mask == 1, expected)
    polygon(mask, [(-1e15, -1e15), (1e15, -1e15), (1e15, 1e15), (-1e15, 1e15)], value=2)
    assert (mask == 2).all()


def test_polygon_noops():
    mask = np.zeros((10, 10), np.uint8)
    assert polygon(mask, [(1, 1), (5, 5)], value=1) is None  # fewer than 3 points
    assert polygon(mask, [(20, 20), (30, 20), (30, 30)], value=1) is None  # off the image
    assert polygon(mask, np.zeros((0, 2)), value=1) is None
    assert not mask.any()


def test_polygon_cost_follows_the_polygon_not_the_image():
    mask = np.zeros((4000, 4000), np.uint8)
    for preserve in (False, True):
        tracemalloc.start()
        try:
            polygon(mask, [(100, 100), (150, 100), (120, 140)], value=1, preserve=preserve)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 200_000, f"polygon allocated {peak} bytes on a 16 Mpx mask"


# ----------------------------------------------------------------------------- pick, Change, errors


def test_pick():
    mask = np.zeros((5, 6), np.uint16)
    mask[2, 4] = 300
    assert pick(mask, (4, 2)) == 300
    assert pick(mask, (4.4, 1.6)) == 300
    assert pick(mask, (6, 2)) is None and pick(mask, (-0.6, 0)) is None


def test_change_revert_and_apply_round_trip():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:9, 5:9] = 2
    before = mask.copy()
    change = brush(mask, (3, 3), (12, 10), radius=3, value=1)
    after = mask.copy()
    assert change.revert(mask) == change.rect
    np.testing.assert_array_equal(mask, before)
    change.apply(mask)
    np.testing.assert_array_equal(mask, after)
    assert not change.old.flags.writeable and not change.changed.flags.writeable
    with pytest.raises(ValueError, match="uint8"):
        change.revert(mask.astype(np.uint16))
    with pytest.raises(ValueError, match="does not fit"):
        change.revert(np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: brush(m, (1, 1), (2, 2), radius=0, value=1), "radius"),
        (lambda m: brush(m, (1, 1), (2, 2), radius=float("nan"), value=1), "radius"),
        (lambda m: brush(m, (float("nan"), 1), (2, 2), radius=2, value=1), "finite"),
        (lambda m: brush(m, (1, 1, 1), (2, 2), radius=2, value=1), r"\(x, y\)"),
        (lambda m: brush(m, (1, 1), (2, 2), radius=2, value=256), "does not fit"),
        (lambda m: brush(m, (1, 1), (2, 2), radius=2, value=1.5), "integer"),
        (lambda m: fill(m, (1, 1), value=-1), "does not fit"),
        (lambda m: polygon(m, [(1, 2, 3)], value=1), r"\(x, y\)"),
        (lambda m: polygon(m, [(1, 2), (np.inf, 3), (4, 4)], value=1), "finite"),
        (lambda m: brush(m.astype(np.float32), (1, 1), (2, 2), radius=2, value=1), "uint8 or uint16"),
        (lambda m: fill(m[None], (1, 1), value=1), "2-D"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros((8, 8), np.uint8))


def test_read_only_mask_is_refused():
    mask = np.zeros((8, 8), np.uint8)
    mask.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        brush(mask, (1, 1), (2, 2), radius=2, value=1)
    assert pick(mask, (1, 1)) == 0  # reading is fine


def test_put_writes_only_where_asked_and_reverts_exactly():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:5, 2:5] = 1
    where = np.zeros((10, 10), bool)
    where[3, 4] = where[6, 8] = True
    where[0, 0] = True  # already holds the value: not a change
    mask[5, 5] = 2
    before = mask.copy()
    change = put(mask, Rect(5, 5, 15, 15), where, 2)
    assert change.rect == Rect(8, 9, 12, 14) and change.count == 2
    assert mask[8, 9] == 2 and mask[11, 13] == 2
    assert np.count_nonzero(mask != before) == 2
    change.revert(mask)
    np.testing.assert_array_equal(mask, before)
    assert put(mask, Rect(0, 0, 2, 2), np.zeros((2, 2), bool), 1) is None
