"""Undo/redo, step grouping, memory accounting and the shared budget."""

import gc

import numpy as np
import pytest

from fcnstudio.core.edits import Rect, brush, erase, fill, polygon
from fcnstudio.core.history import STEP_OVERHEAD, History, HistoryBudget
from fcnstudio.core.patches import PATCH_OVERHEAD


def blobs(shape=(64, 64), dtype=np.uint8, seed=0):
    """A mask with a few rectangles of classes 1..3 on background."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype)
    h, w = shape
    for _ in range(6):
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        mask[y : y + int(rng.integers(2, h // 3)), x : x + int(rng.integers(2, w // 3))] = rng.integers(1, 4)
    return mask


def test_stroke_is_one_step_and_undoes_to_the_state_before_it():
    mask = blobs()
    original = mask.copy()
    history = History.for_mask(mask)
    with history.step():
        for i in range(8):
            history.record(brush(mask, (4 + 6 * i, 10), (10 + 6 * i, 20), radius=5, value=2))
        # pixels touched twice in the same stroke, with different values
        history.record(brush(mask, (20, 15), (30, 15), radius=6, value=3))
        history.record(erase(mask, (25, 15), (25, 15), radius=4))
    stroked = mask.copy()
    assert history.undo_count == 1
    dirty = history.undo(mask)
    np.testing.assert_array_equal(mask, original)
    assert isinstance(dirty, Rect)
    ys, xs = np.nonzero(stroked != original)
    assert dirty.y0 <= ys.min() and dirty.y1 > ys.max() and dirty.x0 <= xs.min() and dirty.x1 > xs.max()
    assert history.redo(mask) == dirty
    np.testing.assert_array_equal(mask, stroked)


def test_each_record_outside_a_step_is_its_own_step():
    mask = blobs(seed=1)
    snapshots = [mask.copy()]
    history = History.for_mask(mask)
    y, x = np.argwhere(mask != 0)[0]
    history.record(fill(mask, (x, y), value=5))  # one blob
    snapshots.append(mask.copy())
    history.record(polygon(mask, [(3, 3), (60, 5), (20, 60)], value=6, preserve=True))
    snapshots.append(mask.copy())
    history.record(brush(mask, (10, 60), (60, 10), radius=3, value=7))
    snapshots.append(mask.copy())
    assert history.undo_count == 3 and history.can_undo and not history.can_redo
    for expected in reversed(snapshots[:-1]):
        assert history.undo(mask) is not None
        np.testing.assert_array_equal(mask, expected)
    assert history.undo(mask) is None and not history.can_undo
    for expected in snapshots[1:]:
        assert history.redo(mask) is not None
        np.testing.assert_array_equal(mask, expected)
    assert history.redo(mask) is None


def test_new_step_after_undo_drops_the_redo_branch():
    mask = np.zeros((32, 32), np.uint8)
    history = History.for_mask(mask)
    history.record(brush(mask, (5, 5), (5, 5), radius=3, value=1))
    history.record(brush(mask, (20, 20), (20, 20), radius=3, value=2))
    history.undo(mask)
    assert history.can_redo
    before_branch = history.nbytes
    history.record(brush(mask, (25, 5), (25, 5), radius=3, value=3))
    assert not history.can_redo and history.redo(mask) is None
    assert history.undo_count == 2
    assert history.nbytes <= before_branch + 2 * (PATCH_OVERHEAD + STEP_OVERHEAD)
    history.undo(mask)
    history.undo(mask)
    assert not mask.any()


def test_steps_that_change_nothing_are_not_stored():
    mask = np.ones((16, 16), np.uint8)
    history = History.for_mask(mask)
    history.record(None)
    history.begin()
    history.record(brush(mask, (5, 5), (5, 5), radius=3, value=1))  # None: already 1
    assert history.end() is False
    with history.step():  # paints then restores: net no change
        history.record(brush(mask, (5, 5), (5, 5), radius=2, value=2))
        history.record(brush(mask, (5, 5), (5, 5), radius=2, value=1))
    assert not history.can_undo and history.nbytes == 0


def test_step_context_manager_ends_the_step_on_error():
    mask = np.zeros((16, 16), np.uint8)
    history = History.for_mask(mask)
    with pytest.raises(RuntimeError):
        with history.step():
            history.record(brush(mask, (5, 5), (5, 5), radius=2, value=1))
            raise RuntimeError("boom")
    assert not history.in_step and history.undo_count == 1
    history.undo(mask)
    assert not mask.any()


def test_far_apart_segments_in_one_stroke_undo_exactly():
    mask = blobs((2000, 2000), seed=4)
    original = mask.copy()
    history = History.for_mask(mask)
    with history.step():  # union box 2000^2: kept as separate patches, not merged
        history.record(brush(mask, (5, 5), (9, 9), radius=4, value=9))
        history.record(brush(mask, (1990, 1990), (1995, 1994), radius=4, value=9))
        history.record(brush(mask, (7, 7), (7, 7), radius=6, value=8))
    done = mask.copy()
    assert history.nbytes < 4 * 1024
    ys, xs = np.nonzero(done != original)
    assert history.undo(mask) == Rect(ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
    np.testing.assert_array_equal(mask, original)
    history.redo(mask)
    np.testing.assert_array_equal(mask, done)


def test_uint16_history():
    mask = np.zeros((40, 40), np.uint16)
    mask[10:30, 10:30] = 1000
    original = mask.copy()
    history = History.for_mask(mask)
    history.record(fill(mask, (15, 15), value=40000))
    history.record(polygon(mask, [(0, 0), (39, 0), (0, 39)], value=513))
    done = mask.copy()
    history.undo(mask)
    history.undo(mask)
    np.testing.assert_array_equal(mask, original)
    history.redo(mask)
    history.redo(mask)
    np.testing.assert_array_equal(mask, done)


def test_clear():
    mask = np.zeros((16, 16), np.uint8)
    history = History.for_mask(mask)
    history.record(brush(mask, (5, 5), (5, 5), radius=2, value=1))
    history.record(brush(mask, (9, 9), (9, 9), radius=2, value=1))
    history.undo(mask)
    history.clear()
    assert not history.can_undo and not history.can_redo and history.nbytes == 0
    history.begin()
    history.record(brush(mask, (2, 2), (2, 2), radius=2, value=1))
    history.clear()  # an open step stays open, emptied
    assert history.in_step and history.nbytes == 0
    assert history.end() is False


# ------------------------------------------------------------------------- memory


def test_memory_of_small_steps():
    mask = np.zeros((256, 256), np.uint8)
    mask[100:, :] = 2
    history = History.for_mask(mask)
    overhead = PATCH_OVERHEAD + STEP_OVERHEAD  # Python objects of a one-patch step
    history.record(fill(mask, (10, 10), value=1))  # 25,600 px: old and new are uniform
    fill_bytes = history.nbytes
    assert fill_bytes < overhead + 100, fill_bytes
    with history.step():  # a 10-segment stroke across two classes: merged into one patch
        pts = [(20 + 20 * i, 60 + 8 * i) for i in range(11)]
        for p0, p1 in zip(pts, pts[1:]):
            history.record(brush(mask, p0, p1, radius=8, value=3))
    stroke_bytes = history.nbytes - fill_bytes
    painted = int((mask == 3).sum())
    assert painted > 3000
    assert stroke_bytes < overhead + 600, stroke_bytes  # far below 1 byte per pixel


def test_max_steps_drops_the_oldest():
    mask = np.zeros((16, 16), np.uint8)
    history = History.for_mask(mask, max_steps=3)
    for v in range(1, 6):
        history.record(fill(mask, (0, 0), value=v))
    assert history.undo_count == 3
    for _ in range(3):
        history.undo(mask)
    assert (mask == 2).all()  # steps 1->2 and 0->1 were dropped


def test_budget_drops_globally_oldest_steps_first_across_histories():
    a_mask, b_mask = np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8)
    budget = HistoryBudget(max_bytes=10**9)
    a = History.for_mask(a_mask, budget=budget)
    b = History.for_mask(b_mask, budget=budget)
    a.record(polygon(a_mask, [(0, 0), (63, 0), (0, 63)], value=1))  # globally oldest
    a_after_first = a_mask.copy()
    b.record(polygon(b_mask, [(0, 0), (63, 0), (0, 63)], value=1))
    a.record(polygon(a_mask, [(0, 0), (63, 0), (63, 63)], value=2))
    b.record(polygon(b_mask, [(0, 0), (63, 0), (63, 63)], value=2))
    assert budget.nbytes == a.nbytes + b.nbytes > 0
    budget.max_bytes = budget.nbytes - 1  # lowering the cap drops at once
    assert (a.undo_count, b.undo_count) == (1, 2)  # a's first step went
    assert budget.nbytes <= budget.max_bytes
    budget.max_bytes = budget.nbytes  # full: the next step pushes out the oldest
    a.record(brush(a_mask, (40, 40), (40, 40), radius=1, value=3))
    assert (a.undo_count, b.undo_count) == (2, 1)  # b's first step went
    assert budget.nbytes <= budget.max_bytes
    while a.can_undo:
        a.undo(a_mask)
    np.testing.assert_array_equal(a_mask, a_after_first)  # the kept steps undo exactly


def test_budget_never_drops_the_most_recent_step():
    budget = HistoryBudget(max_bytes=0)
    masks = [np.zeros((32, 32), np.uint8) for _ in range(2)]
    histories = [History.for_mask(m, budget=budget) for m in masks]
    for v in (1, 2, 3):
        for m, h in zip(masks, histories):
            h.record(fill(m, (0, 0), value=v))
    for m, h in zip(masks, histories):
        assert h.undo_count == 1
        h.undo(m)
        assert (m == 2).all()  # the last step (2 -> 3) is still undoable


def test_budget_forgets_deleted_histories():
    budget = HistoryBudget()
    mask = np.zeros((16, 16), np.uint8)
    history = History.for_mask(mask, budget=budget)
    history.record(fill(mask, (0, 0), value=1))
    assert budget.nbytes == history.nbytes > 0
    del history
    gc.collect()
    assert budget.nbytes == 0


# ------------------------------------------------------------------------- misuse


def test_misuse_raises_value_error_with_guidance():
    mask = np.zeros((16, 16), np.uint8)
    history = History.for_mask(mask)
    history.record(fill(mask, (0, 0), value=1))
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        history.undo(np.zeros((16, 17), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        history.undo(mask.astype(np.uint16))
    with pytest.raises(ValueError, match="without begin"):
        history.end()
    history.begin()
    with pytest.raises(ValueError, match="end\\(\\) first"):
        history.begin()
    with pytest.raises(ValueError, match="end\\(\\) first"):
        history.undo(mask)
    history.end()
    with pytest.raises(ValueError, match="Change"):
        history.record("not a change")
    other = np.zeros((16, 16), np.uint16)
    with pytest.raises(ValueError, match="uint16"):
        history.record(fill(other, (0, 0), value=1))
    big = np.zeros((32, 32), np.uint8)
    with pytest.raises(ValueError, match="outside"):
        history.record(fill(big, (0, 0), value=1))
    with pytest.raises(ValueError, match="dtype"):
        History((4, 4), np.float32)
    with pytest.raises(ValueError, match="shape"):
        History((4, 4, 3))
    with pytest.raises(ValueError, match="max_bytes"):
        HistoryBudget(max_bytes=-1)
    with pytest.raises(ValueError, match="max_steps"):
        History((4, 4), max_steps=0)
