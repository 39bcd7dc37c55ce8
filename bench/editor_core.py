"""Editor-core benchmarks: fill, polygon, brush scaling and undo memory.

``run()`` returns rows ``{"name", "value", "unit", "target", "ok"}``; the
bench runner imports this module and calls it. Run alone with
``python bench/editor_core.py``. Pure core: numpy + OpenCV, no Qt, no torch.
Needs ~1 GB of RAM (10000^2 masks). MB = 10**6 bytes.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

try:
    from fcnstudio.core.edits import brush, fill, polygon
except ImportError:  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fcnstudio.core.edits import brush, fill, polygon
from fcnstudio.core.history import History

MB = 1e6


def _row(name: str, value: float, unit: str, limit: float) -> dict:
    return {"name": name, "value": round(value, 3), "unit": unit, "target": f"<= {limit:g}",
            "ok": bool(value <= limit)}


def _blobs(size: int, n: int, seed: int) -> np.ndarray:
    """A square uint8 mask with ``n`` filled discs of classes 1..3 on background."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(n):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        cv2.circle(mask, centre, int(rng.integers(size // 200 + 2, size // 12)), int(rng.integers(1, 4)), -1)
    return mask


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def bench_fill(runs: int = 7) -> dict:
    """Flood fill of a ~4-Mpx disc (radius 1130) on a 4096^2 mask with other blobs."""
    mask = _blobs(4096, 60, seed=1)
    cv2.circle(mask, (2048, 2048), 1130, 4, -1)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        change = fill(mask, (2048, 2048), value=5)
        times.append((time.perf_counter() - t0) * 1e3)
        assert change is not None and change.count > 4_000_000, "the fill region is not ~4 Mpx"
        change.revert(mask)
    return _row("fill_4mpx_ms", statistics.median(times), "ms", 50)


def bench_polygon(runs: int = 5) -> list[dict]:
    """Polygons covering half of a 10000^2 mask: time, and undo memory."""
    mask = _blobs(10000, 40, seed=2)
    shapes = {
        "polygon_10000_ms": [(0, 0), (4999, 0), (4999, 9999), (0, 9999)],  # left half
        "polygon_10000_triangle_ms": [(0, 0), (9999, 0), (0, 9999)],  # half, bbox = all
    }
    rows, change = [], None
    for name, pts in shapes.items():
        times = []
        for _ in range(runs):
            del change
            t0 = time.perf_counter()
            change = polygon(mask, pts, value=4)
            times.append((time.perf_counter() - t0) * 1e3)
            change.revert(mask)
        rows.append(_row(name, statistics.median(times), "ms", 100))
    del change
    original = mask.copy()
    history = History.for_mask(mask)
    history.record(polygon(mask, shapes["polygon_10000_ms"], value=4))
    rows.append(_row("undo_mb_polygon_10000", history.nbytes / MB, "MB", 20))
    history.undo(mask)
    if not np.array_equal(mask, original):
        rows[-1]["ok"] = False  # not bit-exact
    return rows


def bench_strokes(n_strokes: int = 100, n_points: int = 20, radius: float = 12) -> dict:
    """History bytes for 100 brush strokes of 20 points on an 8000^2 mask."""
    rng = np.random.default_rng(3)
    mask = _blobs(8000, 60, seed=3)
    original = mask.copy()
    history = History.for_mask(mask)
    for _ in range(n_strokes):
        p = rng.uniform(100, 7900, 2)
        pts = [p := p + rng.uniform(-20, 20, 2) for _ in range(n_points)]
        value, preserve = int(rng.integers(1, 5)), bool(rng.random() < 0.3)
        with history.step():
            for p0, p1 in zip(pts, pts[1:]):
                history.record(brush(mask, tuple(p0), tuple(p1), radius=radius, value=value, preserve=preserve))
    row = _row("undo_mb_100_strokes_8000", history.nbytes / MB, "MB", 10)
    while history.can_undo:
        history.undo(mask)
    if not np.array_equal(mask, original):
        row["ok"] = False  # not bit-exact
    return row


def bench_brush_ratio(n_segments: int = 300, runs: int = 7) -> dict:
    """Brush segment time on 8000^2 over 1024^2 (same segments): cost follows the edit."""
    rng = np.random.default_rng(4)
    starts = rng.uniform(20, 1000, (n_segments, 2))
    ends = starts + rng.uniform(-15, 15, (n_segments, 2))
    segments = [(tuple(a), tuple(b)) for a, b in zip(starts, ends)]
    masks = {size: np.zeros((size, size), np.uint8) for size in (1024, 8000)}

    def strokes(mask):
        def go():
            for i, (a, b) in enumerate(segments):
                brush(mask, a, b, radius=12, value=1 + i % 3)
        return go

    per_size = {size: [] for size in masks}
    for _ in range(runs):  # interleave sizes so machine noise hits both alike
        for size, mask in masks.items():
            per_size[size].append(_ms(strokes(mask)))
    ratio = statistics.median(per_size[8000]) / statistics.median(per_size[1024])
    return _row("brush_core_ratio_8000_vs_1024", ratio, "x", 1.5)


def run() -> list[dict]:
    """All editor-core benchmark rows."""
    rows = [bench_fill()]
    rows += bench_polygon()
    rows.append(bench_strokes())
    rows.append(bench_brush_ratio())
    return rows


if __name__ == "__main__":
    for r in run():
        status = "ok" if r["ok"] else "OVER"
        print(f"{r['name']:32s} {r['value']:>10.3f} {r['unit']:3s} target {r['target']:8s} {status}")
