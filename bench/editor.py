"""Editor window benchmarks: brush latency on screen, opening a large pair, startup time.

``run()`` returns rows ``{"name", "value", "unit", "target", "ok"}`` (group
``editor``; fill/polygon/undo rows are in ``bench/editor_core.py``). Run alone
with ``python bench/editor.py``. Offscreen Qt, its own settings file, its own
temporary datasets; needs ~1.5 GB of RAM for the 8000^2 pair.

- ``brush_p99_ms_<size>``: one mouse-move segment of a 25-px brush, sent to the
  real canvas as a QMouseEvent, until the repaint of the changed region has
  finished (the update is flushed with processEvents; a paint-event counter
  checks that every segment was painted). 1:1 zoom, so each segment repaints
  the same screen area whatever the image size.
- ``open_4096_ms``: next pair (4096^2 grey PNG + palette mask) until painted,
  after looking at the current one for ``LOOK_S`` seconds (the session reads
  the neighbouring pairs ahead in a thread meanwhile, as it does for a user);
  ``open_4096_cold_ms`` is the same without reading ahead (for the record).
- ``startup_s``: ``python main.py <sample>`` until the window is shown
  (``FCNSTUDIO_EXIT_AFTER_SHOW``); ``startup_vs_bare_qt``: that time over the
  time of ``python -c "import PyQt6.QtWidgets"``.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

BRUSH = 25
MOVES = 400
#: seconds a user looks at an image before asking for the next one
LOOK_S = 1.0


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict:
    return {"name": name, "value": round(float(value), 3), "unit": unit, "target": target, "ok": bool(ok)}


def _p99(values) -> float:
    return float(np.percentile(np.asarray(values), 99))


def _make_pair(root: Path, stem: str, size: int, seed: int) -> None:
    """A grey image with soft blobs and noise, and a palette mask of the blobs."""
    from fcnstudio.core.io import write_mask

    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(max(8, size // 64)):
        c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        cv2.circle(mask, c, int(rng.integers(size // 200 + 2, size // 20)), int(rng.integers(1, 3)), -1)
    image = (mask * 60 + 40).astype(np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    image = cv2.add(image, rng.integers(0, 12, image.shape, np.uint8))
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "images" / f"{stem}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    write_mask(root / "masks" / f"{stem}.png", mask, [(0, 0, 0), (230, 60, 60), (60, 200, 230)])


class _PaintCounter:
    def __init__(self, widget) -> None:
        from PyQt6.QtCore import QEvent, QObject

        count = self

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
                if event.type() == QEvent.Type.Paint:
                    count.n += 1
                return False

        self.n = 0
        self.filter = Filter()
        widget.installEventFilter(self.filter)


def _window(tmp: Path):
    from fcnstudio.gui.app import Settings, create_app
    from fcnstudio.gui.main_window import MainWindow
    from PyQt6.QtCore import QSettings

    app = create_app(["bench"])
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings=settings)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    return app, window


def _brush_times(size: int, tmp: Path) -> list[float]:
    """Per-move milliseconds (edit + overlay + repaint) for a stroke of MOVES segments."""
    from PyQt6.QtCore import QPointF, Qt
    from PyQt6.QtGui import QMouseEvent

    root = tmp / f"brush{size}"
    _make_pair(root, "big", size, seed=size)
    app, window = _window(tmp)
    try:
        window.open_dataset(root)
        window.tool_state.set(tool="brush", brush_size=BRUSH, current_class=1)
        canvas = window.canvas
        canvas.actual_size()
        canvas.center_on(size / 2, size / 2)
        app.processEvents()
        counter = _PaintCounter(canvas)
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        cx, cy = canvas.width() / 2, canvas.height() / 2

        def send(kind, pos, button, buttons):
            ev = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
            app.sendEvent(canvas, ev)

        times = []
        for stroke in range(2):
            radius = 150 + 60 * stroke
            path = [QPointF(cx + radius * math.cos(t), cy + radius * math.sin(t) * 0.7)
                    for t in np.linspace(0, 4 * math.pi, MOVES // 2)]
            send(QMouseEvent.Type.MouseButtonPress, path[0], left, left)
            app.processEvents()
            for pos in path[1:]:
                painted = counter.n
                t0 = time.perf_counter()
                send(QMouseEvent.Type.MouseMove, pos, none, left)
                app.processEvents()
                times.append((time.perf_counter() - t0) * 1e3)
                if counter.n == painted:
                    raise RuntimeError("a brush segment was not repainted: the benchmark measures nothing")
            send(QMouseEvent.Type.MouseButtonRelease, path[-1], left, none)
            app.processEvents()
        if not window.session.dirty:
            raise RuntimeError("the brush did not paint")
        return times[10:]  # first segments warm caches
    finally:
        window.session.reload()
        window.close()
        window.deleteLater()
        app.processEvents()


def bench_open(tmp: Path, runs: int = 5) -> dict:
    root = tmp / "open4096"
    _make_pair(root, "p0", 4096, seed=1)
    _make_pair(root, "p1", 4096, seed=2)
    app, window = _window(tmp)
    counter = _PaintCounter(window.canvas)
    times, cold = [], []
    try:
        window.open_dataset(root, index=0)
        app.processEvents()
        for i in range(runs * 2):
            _look(app, LOOK_S)  # the user looks at the image; the neighbours are read ahead meanwhile
            painted = counter.n
            t0 = time.perf_counter()
            window.go_to((i + 1) % 2)
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1e3)
            if counter.n == painted:
                raise RuntimeError("the opened pair was not painted")
        window.session.prefetch = False  # the same without reading ahead, for the record
        for i in range(runs):
            painted = counter.n
            t0 = time.perf_counter()
            window.go_to((i + 1) % 2)
            app.processEvents()
            cold.append((time.perf_counter() - t0) * 1e3)
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    value = statistics.median(times)
    return [_row("open_4096_ms", value, "ms", "<= 300", value <= 300),
            _row("open_4096_cold_ms", statistics.median(cold), "ms", "info: no read-ahead", True)]


def _look(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def _wall(cmd, env, marker: str | None = None, runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO, text=True)
        if marker:
            for line in proc.stdout:
                if line.startswith(marker):
                    out.append(time.perf_counter() - t0)
                    break
            proc.wait(timeout=60)
        else:
            proc.communicate(timeout=60)
            out.append(time.perf_counter() - t0)
        if proc.returncode not in (0, None) or (marker and len(out) == 0):
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode})")
    return statistics.median(out)


def bench_startup(tmp: Path) -> list[dict]:
    from fcnstudio.core.resources import sample_dataset

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               FCNSTUDIO_SETTINGS=str(tmp / "startup.ini"), FCNSTUDIO_EXIT_AFTER_SHOW="1")
    startup = _wall([sys.executable, "main.py", str(sample_dataset())], env, marker="FCNSTUDIO_SHOWN")
    bare = _wall([sys.executable, "-c", "import PyQt6.QtWidgets"], env)
    ratio = startup / bare
    return [
        _row("startup_s", startup, "s", "<= 1.5", startup <= 1.5),
        _row("startup_vs_bare_qt", ratio, "x", "<= 8", ratio <= 8),
    ]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="fcnbench-editor-") as d:
        tmp = Path(d)
        t8000 = _brush_times(8000, tmp)
        t4096 = _brush_times(4096, tmp)
        t1024 = _brush_times(1024, tmp)
        p8000, p4096 = _p99(t8000), _p99(t4096)
        ratio = statistics.median(t8000) / statistics.median(t1024)
        rows = [
            _row("brush_p99_ms_8000", p8000, "ms", "<= 16", p8000 <= 16),
            _row("brush_p99_ms_4096", p4096, "ms", "<= 8", p4096 <= 8),
            _row("brush_ratio_8000_vs_1024", ratio, "x", "<= 1.5", ratio <= 1.5),
            *bench_open(tmp),
        ]
        rows += bench_startup(tmp)
    return rows


if __name__ == "__main__":
    for r in run():
        status = "ok" if r["ok"] else "OVER"
        print(f"{r['name']:28s} {r['value']:>10.3f} {r['unit']:3s} target {r['target']:8s} {status}")
