"""Property tests: random edit sequences undo/redo bit-exactly; memory stays capped."""

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fcnstudio.core.edits import brush, erase, fill, polygon
from fcnstudio.core.history import History, HistoryBudget

SIZE = 64
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

coord = st.floats(min_value=-12, max_value=SIZE + 12, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord)
value = st.integers(min_value=0, max_value=4)

stroke = st.tuples(
    st.just("stroke"),
    st.lists(point, min_size=1, max_size=6),
    st.floats(min_value=0.5, max_value=9),
    value,
    st.booleans(),  # preserve
    st.booleans(),  # eraser (value 0, or the ignore value 255)
)
flood = st.tuples(st.just("fill"), point, value, st.booleans())
poly = st.tuples(st.just("polygon"), st.lists(point, min_size=3, max_size=10), value, st.booleans())
operations = st.lists(st.one_of(stroke, flood, poly), min_size=1, max_size=10)


def start_mask(seed: int, dtype) -> np.ndarray:
    """Noise and blobs of classes 0..3 (and some 255) so every tool meets other classes."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((SIZE, SIZE), dtype)
    for _ in range(5):
        y, x = rng.integers(0, SIZE, 2)
        mask[y : y + rng.integers(3, 30), x : x + rng.integers(3, 30)] = rng.integers(1, 4)
    noise = rng.random((SIZE, SIZE)) < 0.05
    mask[noise] = rng.choice([0, 2, 255], noise.sum())
    return mask


def apply(mask: np.ndarray, history: History, op) -> None:
    """Run one operation on ``mask``, recording it as one step (a stroke = many segments)."""
    kind = op[0]
    if kind == "stroke":
        _, pts, radius, val, preserve, eraser = op
        with history.step():
            for p0, p1 in zip(pts, pts[1:] or pts):
                before = mask.copy()
                if eraser:
                    change = erase(mask, p0, p1, radius=radius, value=255 if val == 4 else 0)
                else:
                    change = brush(mask, p0, p1, radius=radius, value=val, preserve=preserve)
                assert_change_is_exact(before, mask, change)
                history.record(change)
    else:
        before = mask.copy()
        if kind == "fill":
            _, p, val, preserve = op
            change = fill(mask, p, value=val, preserve=preserve)
        else:
            _, pts, val, preserve = op
            change = polygon(mask, pts, value=val, preserve=preserve)
        assert_change_is_exact(before, mask, change)
        history.record(change)


def assert_change_is_exact(before, after, change) -> None:
    diff = before != after
    if change is None:
        assert not diff.any()
        return
    outside = diff.copy()
    outside[change.rect.slices] = False
    assert not outside.any(), "pixels changed outside the Change's rect"
    np.testing.assert_array_equal(change.changed, diff[change.rect.slices])
    np.testing.assert_array_equal(change.old, before[change.rect.slices])
    np.testing.assert_array_equal(change.new, after[change.rect.slices])


@SETTINGS
@given(seed=st.integers(0, 2**16), ops=operations, wide=st.booleans())
def test_undo_all_restores_and_redo_all_replays_bit_exactly(seed, ops, wide):
    mask = start_mask(seed, np.uint16 if wide else np.uint8)
    history = History.for_mask(mask)
    states = [mask.copy()]
    for op in ops:
        apply(mask, history, op)
        if history.undo_count == len(states):  # a step was stored
            states.append(mask.copy())
    assert history.undo_count == len(states) - 1
    for expected in reversed(states[:-1]):
        dirty = history.undo(mask)
        assert dirty is not None
        np.testing.assert_array_equal(mask, expected)
    assert history.undo(mask) is None
    for expected in states[1:]:
        history.redo(mask)
        np.testing.assert_array_equal(mask, expected)
    assert history.redo(mask) is None


@SETTINGS
@given(seed=st.integers(0, 2**16), ops=operations, k=st.integers(0, 10))
def test_undo_then_redo_is_the_identity(seed, ops, k):
    mask = start_mask(seed, np.uint8)
    history = History.for_mask(mask)
    for op in ops:
        apply(mask, history, op)
    final = mask.copy()
    k = min(k, history.undo_count)
    for _ in range(k):
        history.undo(mask)
    for _ in range(k):
        history.redo(mask)
    np.testing.assert_array_equal(mask, final)
    assert not history.can_redo


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    ops=st.lists(st.tuples(st.integers(0, 1), st.one_of(stroke, flood, poly)), min_size=1, max_size=12),
    cap=st.integers(0, 6000),
)
def test_shared_budget_caps_memory_and_kept_steps_stay_exact(seed, ops, cap):
    budget = HistoryBudget(max_bytes=cap)
    masks = [start_mask(seed, np.uint8), start_mask(seed + 1, np.uint8)]
    histories = [History.for_mask(m, budget=budget) for m in masks]
    states = [[m.copy()] for m in masks]
    for which, op in ops:
        m, h = masks[which], histories[which]
        apply(m, h, op)
        if (m != states[which][-1]).any():  # a step was stored (a net no-op stores none)
            states[which].append(m.copy())
        # over the cap only when no history has anything but its latest step left
        assert budget.nbytes <= cap or all(x.undo_count + x.redo_count <= 1 for x in histories)
        assert budget.nbytes == sum(x.nbytes for x in histories)
    for m, h, st_ in zip(masks, histories, states):
        kept = h.undo_count
        final = m.copy()
        for _ in range(kept):
            h.undo(m)
        np.testing.assert_array_equal(m, st_[len(st_) - 1 - kept])
        for _ in range(kept):
            h.redo(m)
        np.testing.assert_array_equal(m, final)


def capsule_exact(shape, p0, p1, r) -> np.ndarray:
    """Pixel centres within r of segment p0-p1, in exact rational arithmetic."""
    (ax, ay), (bx, by) = [tuple(Fraction(v) for v in p) for p in (p0, p1)]
    dx, dy, r2 = bx - ax, by - ay, Fraction(r) ** 2
    l2 = dx * dx + dy * dy
    out = np.zeros(shape, bool)
    for y in range(shape[0]):
        for x in range(shape[1]):
            t = 0 if l2 == 0 else min(1, max(0, ((x - ax) * dx + (y - ay) * dy) / l2))
            out[y, x] = (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= r2
    return out


icoord = st.integers(-4, 20)


@settings(max_examples=50, deadline=None)
@given(p0=st.tuples(icoord, icoord), p1=st.tuples(icoord, icoord), r2x=st.integers(1, 12))
@example(p0=(0, 8), p1=(5, -4), r2x=2)  # an end just outside the image: clipping it broke the tie at (4, 1)
def test_brush_on_integer_grid_matches_exact_distance_including_ties(p0, p1, r2x):
    """Integer points and half-integer radii hit exact ties; they must be included."""
    r = r2x / 2
    mask = np.zeros((16, 16), np.uint8)
    brush(mask, p0, p1, radius=r, value=1)
    np.testing.assert_array_equal(mask == 1, capsule_exact(mask.shape, p0, p1, r))
