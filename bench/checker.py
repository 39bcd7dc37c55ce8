"""Checker throughput against the floor of only decoding the same files.

    python bench/checker.py            # prints the rows as JSON lines
    from bench.checker import run      # rows {"name", "value", "unit", "target", "ok"}

A dataset of 200 pairs of 512×512 (JPEG photos-like images, PNG index masks
with 4 classes) is generated under a temp dir. The floor decodes every image
and mask with the same reader (:mod:`fcnstudio.core.io`) in the same process
pool (:func:`fcnstudio.core.checker.run.run_pool`, same number of workers); the
check is :func:`fcnstudio.core.checker.run.check_dataset` on the same files. Each
is timed best-of-N, alternating, after one warm-up of each (page cache).
Target: full check ≤ 1.5 × decode-only.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fcnstudio.core.checker.run import check_dataset, default_workers, run_pool  # noqa: E402
from fcnstudio.core.dataset import open_dataset  # noqa: E402
from fcnstudio.core.checker.pair_stats import PairTask, decode_chunk  # noqa: E402

PAIRS = 200
SIZE = 512
TARGET = 1.5


def make_dataset(root: Path, pairs: int = PAIRS, size: int = SIZE, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(pairs):
        mask = np.zeros((size, size), np.uint8)
        for cls in (1, 2, 3):
            for _ in range(3):
                c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
                ax = (int(rng.integers(10, size // 5)), int(rng.integers(10, size // 5)))
                cv2.ellipse(mask, c, ax, float(rng.integers(0, 180)), 0, 360, cls, -1)
        base = (xx * rng.uniform(0.1, 0.4) + yy * rng.uniform(0.1, 0.4)).astype(np.float32)
        img = np.stack([base + mask * 40 * (k + 1) for k in range(3)], axis=-1)
        img += rng.normal(0, 6, img.shape).astype(np.float32)
        img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0)
        cv2.imwrite(str(root / "images" / f"{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(root / "masks" / f"{i:04d}.png"), mask)
    return root


def _tasks(dataset) -> list[PairTask]:
    return [PairTask(i, p.stem, str(p.image), str(p.mask)) for i, p in enumerate(dataset.pairs)]


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(pairs: int = PAIRS, workers: int | None = None, repeats: int = 3) -> list[dict]:
    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="fcnstudio-bench-") as tmp:
        dataset = open_dataset(make_dataset(Path(tmp) / "ds", pairs))
        tasks = _tasks(dataset)

        def decode():
            for _ in run_pool(decode_chunk, tasks, workers):
                pass

        def check():
            check_dataset(dataset, workers=workers)

        decode()
        result = check_dataset(dataset, workers=workers)  # warm-up, and a sanity check
        t_decode = t_check = float("inf")
        for _ in range(repeats):
            t_decode = min(t_decode, _time(decode, 1))
            t_check = min(t_check, _time(check, 1))
    ratio = t_check / t_decode
    return [
        {"name": "checker_vs_decode", "value": round(ratio, 3), "unit": "ratio", "target": f"<= {TARGET}",
         "ok": ratio <= TARGET},
        {"name": "checker_pairs_per_s", "value": round(pairs / t_check, 1), "unit": "pairs/s",
         "target": f"{workers} workers, {SIZE}x{SIZE}", "ok": True},
        {"name": "decode_pairs_per_s", "value": round(pairs / t_decode, 1), "unit": "pairs/s",
         "target": f"{workers} workers, {SIZE}x{SIZE}", "ok": True},
        {"name": "checker_findings_on_clean_bench_data", "value": len(result.findings), "unit": "findings",
         "target": "0", "ok": len(result.findings) == 0},
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
