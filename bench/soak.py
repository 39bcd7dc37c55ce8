"""Long-run benchmarks: crash-recovery round trips, and memory while stepping through a big dataset.

    python bench/soak.py                  # both rows
    python bench/soak.py --quick          # small counts (a smoke run)

``run()`` returns rows ``{"name", "value", "unit", "target", "ok"}`` (plus
detail fields); ``bench/reliability.py`` lists them in its table too.

- ``recovery_roundtrip``: N rounds of: random edits on a random pair (brush,
  erase, fill, polygon, some undone, sometimes a save halfway) → journal →
  the session is shut down unsaved → a fresh session on the same dataset
  restores the journal → its mask must equal the edited one, bit for bit.
  Value: fraction of exact rounds (target == 1.0).
- ``soak_rss_growth_mb``: a generated dataset of 2,000 pairs (256×256) in a
  temp folder, opened in the real MainWindow (offscreen); the next-pair action
  500 times with the events processed after each, a brush stroke every 10
  pairs (journalled, then autosaved when moving on). Value: resident memory
  after the last pair minus after the first 50 (MB; target <= 100).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
for _p in (str(REPO), str(REPO / "bench")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

COLORS = [(0, 0, 0), (230, 60, 60), (60, 200, 230), (240, 200, 40)]
FULL = {"rounds": 20, "pairs": 2000, "steps": 500, "warmup": 50}
QUICK = {"rounds": 5, "pairs": 300, "steps": 120, "warmup": 20}


def _row(name: str, value: float, unit: str, target: str, ok: bool, **detail) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **detail}


def proc_rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of process ``pid`` in MB (``VmRSS`` in ``/proc/PID/status``), or None when unknown or gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _rss_mb() -> float:
    rss = proc_rss_mb()
    if rss is not None:
        return rss
    import resource  # peak, not current: a fallback only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_dataset(root: Path, n: int, size: int = 256, seed: int = 0, with_masks: bool = True) -> Path:
    """``n`` pairs of soft blobs (grey PNG) and their palette masks; pair 3 has no mask when ``with_masks``."""
    from fcnstudio.core.io import write_mask

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    (root / "fcnstudio.json").write_text(json.dumps(
        {"version": 1, "classes": [{"name": f"class {i}" if i else "background", "color": list(c)}
                                   for i, c in enumerate(COLORS)], "label_map": {}, "ignore_index": None}))
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(2, 7))):
            c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
            cv2.circle(mask, c, int(rng.integers(4, size // 6)), int(rng.integers(1, len(COLORS))), -1)
        image = cv2.add((mask * 50 + 40).astype(np.uint8), rng.integers(0, 20, mask.shape, np.uint8))
        stem = f"img_{i:05d}"
        cv2.imwrite(str(root / "images" / f"{stem}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if with_masks and not (n > 3 and i == 3):
            write_mask(root / "masks" / f"{stem}.png", mask, COLORS)
    return root


# ---------------------------------------------------------------- recovery_roundtrip


def _random_edits(s, rng) -> None:
    from fcnstudio.core import edits

    h, w = s.mask.shape

    def pt():
        return (float(rng.uniform(-5, w + 5)), float(rng.uniform(-5, h + 5)))

    for _ in range(int(rng.integers(1, 7))):
        op = rng.choice(["brush", "stroke", "erase", "fill", "polygon", "undo"])
        cls = int(rng.integers(0, len(COLORS)))
        if op == "brush":
            s.apply(edits.brush, pt(), pt(), radius=float(rng.uniform(0.5, 12)), value=cls)
        elif op == "stroke":  # several segments, one undo step
            s.begin_stroke()
            p = pt()
            for _ in range(int(rng.integers(2, 12))):
                q = pt()
                s.apply(edits.brush, p, q, radius=float(rng.uniform(1, 6)), value=cls)
                p = q
            s.end_stroke()
        elif op == "erase":
            s.apply(edits.erase, pt(), pt(), radius=float(rng.uniform(1, 10)))
        elif op == "fill":
            s.apply(edits.fill, (int(rng.integers(0, w)), int(rng.integers(0, h))), value=cls)
        elif op == "polygon":
            s.apply(edits.polygon, [pt() for _ in range(int(rng.integers(3, 7)))], value=cls)
        else:
            s.undo()
    # the last edit is never undone: there is always something to recover
    s.apply(edits.brush, (float(rng.uniform(0, w)), float(rng.uniform(0, h))), (float(rng.uniform(0, w)), 0.0),
            radius=3.0, value=int(rng.integers(1, len(COLORS))))


def bench_recovery_roundtrip(c: dict) -> dict:
    from fcnstudio.core.recovery.follower import SessionFollower
    from fcnstudio.core.recovery.journal import RECOVERY_DIR
    from fcnstudio.core.session import EditSession

    rounds = int(c.get("rounds", FULL["rounds"]))
    rng = np.random.default_rng(5)
    exact = 0
    failures: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fcn-recovery-") as tmp:
        root = make_dataset(Path(tmp) / "ds", 6, size=96, seed=3)
        folder = root / RECOVERY_DIR
        for r in range(rounds):
            index = int(rng.integers(0, 6))
            a = EditSession(autosave=False, prefetch=False)
            a_follower = SessionFollower(a)
            a.open(root, index)
            if rng.random() < 0.3:  # edits already saved once: the journal is against the saved file
                _random_edits(a, rng)
                a.save()
            _random_edits(a, rng)
            name = a.pair.name
            a_follower.flush()
            expected = a.mask.copy()
            a.shutdown()  # the crash: nothing saved after this point
            del a, a_follower
            b = EditSession(autosave=False, prefetch=False)
            b_follower = SessionFollower(b)
            try:
                b.open(root, int(rng.integers(0, 6)))
                entries, problems = b_follower.entries()
                if problems or [e.name for e in entries] != [name]:
                    failures.append(f"round {r}: entries {[e.name for e in entries]} problems {problems}")
                    continue
                b_follower.restore(entries[0])
                same = b.pair.name == name and b.dirty and np.array_equal(b.mask, expected)
                if not same:
                    bad = int(np.count_nonzero(b.mask != expected)) if b.mask.shape == expected.shape else -1
                    failures.append(f"round {r}: {name}: {bad} pixels differ")
                # alternate: keep the restored edits (save), or drop them; either removes the journal
                how = "save" if r % 2 else "discard"
                if how == "save":
                    b.save()
                else:
                    b.discard()
                b_follower.journal.wait()
                left = list(folder.glob("*.npz"))
                if left:
                    failures.append(f"round {r}: journal left after {how}")
                exact += same and not left
            finally:
                b.shutdown()
    value = exact / rounds if rounds else 0.0
    return _row("recovery_roundtrip", round(value, 4), "fraction", "== 1.0", exact == rounds and rounds > 0,
                rounds=rounds, seconds=round(time.perf_counter() - t0, 1), failures=failures[:5])


# ---------------------------------------------------------------- soak_rss_growth_mb


def bench_soak_rss_growth_mb(c: dict) -> dict:
    from PyQt6.QtCore import QStandardPaths
    from PyQt6.QtWidgets import QApplication

    from fcnstudio.core import edits
    from fcnstudio.gui.app import SETTINGS_ENV, create_app

    n_pairs, steps, warmup = int(c.get("pairs", 2000)), int(c.get("steps", 500)), int(c.get("warmup", 50))
    with tempfile.TemporaryDirectory(prefix="fcn-soak-") as tmp:
        t0 = time.perf_counter()
        root = make_dataset(Path(tmp) / "ds", n_pairs, seed=1)
        made = time.perf_counter() - t0
        saved_env = os.environ.get(SETTINGS_ENV)
        os.environ[SETTINGS_ENV] = str(Path(tmp) / "settings.ini")
        QStandardPaths.setTestModeEnabled(True)
        app = create_app(["soak"])
        from fcnstudio.gui.main_window import MainWindow

        window = MainWindow()
        try:
            window.resize(1200, 800)
            window.show()
            window.open_dataset(root, 0)
            app.processEvents()
            rss = {}
            strokes = 0
            journals_seen = 0
            step_ms = []
            rng = np.random.default_rng(2)
            for i in range(1, steps + 1):
                t = time.perf_counter()
                if not window.step(1):
                    raise RuntimeError(f"next pair refused at pair {i} ({window.session.pair.name})")
                app.processEvents()
                step_ms.append((time.perf_counter() - t) * 1000)
                if i % 10 == 0 and window.session.editable:
                    s = window.session
                    p0 = (float(rng.uniform(0, 255)), float(rng.uniform(0, 255)))
                    s.apply(edits.brush, p0, (p0[0] + 40, p0[1] + 10), radius=6, value=int(rng.integers(1, 4)))
                    strokes += 1
                    window.recovery.follower.flush()
                    journals_seen += len(list((root / ".fcnstudio" / "recovery").glob("*.npz")))
                    app.processEvents()
                if i == warmup:
                    gc.collect()
                    app.processEvents()
                    rss["warm"] = _rss_mb()
            gc.collect()
            app.processEvents()
            rss["end"] = _rss_mb()
            left = list((root / ".fcnstudio" / "recovery").glob("*.npz")) if (root / ".fcnstudio").exists() else []
            if window.session.dirty:
                window.session.save()
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()
            QApplication.sendPostedEvents()
            if saved_env is None:
                os.environ.pop(SETTINGS_ENV, None)
            else:
                os.environ[SETTINGS_ENV] = saved_env
    growth = rss["end"] - rss["warm"]
    ok = growth <= 100 and journals_seen == strokes and len(left) <= 1
    return _row("soak_rss_growth_mb", round(growth, 1), "MB", "<= 100", ok,
                pairs=n_pairs, steps=steps, rss_after_warmup_mb=round(rss["warm"], 1),
                rss_end_mb=round(rss["end"], 1), strokes=strokes, journals_written=journals_seen,
                step_p50_ms=round(float(np.median(step_ms)), 1), step_p99_ms=round(float(np.percentile(step_ms, 99)), 1),
                dataset_seconds=round(made, 1))


BENCHES = {"recovery_roundtrip": bench_recovery_roundtrip, "soak_rss_growth_mb": bench_soak_rss_growth_mb}


def run(only: list[str] | None = None, quick: bool | None = None) -> list[dict]:
    """The rows (``FCNSTUDIO_BENCH_QUICK=1`` or ``quick=True`` for small counts)."""
    from bench_cli import quick_requested, run_rows

    return run_rows(BENCHES, QUICK if quick_requested(quick) else FULL, "soak", only)


def main(argv: list[str] | None = None) -> int:
    from bench_cli import main as bench_main

    return bench_main(run, BENCHES, "python bench/soak.py", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
