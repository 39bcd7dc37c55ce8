"""Draw the README's pictures of the window: ``python docs/pictures.py`` (no display needed).

- ``docs/window-training.png``: the window training on the bundled sample
  (a copy, its two deliberate defects repaired as ``bench/training_cli.py``
  does) with plain cross-entropy, seed 0: the loss plot, the previews, and the
  collapse banner — the run is stopped at the next evaluation after the first
  collapse warning (``class-never-predicted`` on the rare ``spot`` class,
  around step 100), or at :data:`TRAIN_STEPS`.
- ``docs/window-review.png``: the Review dock on a region, after a real
  review (3 folds, :data:`REVIEW_STEPS` steps each, the training defaults) of
  another copy in which the largest cell of ``cells_05`` was erased from its mask.

The real :class:`~fcnstudio.gui.main_window.MainWindow` on Qt's offscreen
platform, driven through its docks as a user would; settings go to a
temporary file. Takes about 5 minutes on one CPU core. Redraw the pictures
when the window changes. ``--out DIR`` writes them elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: the collapse run's cap, the review's steps per fold, the window's width, the Review dock's, the PNGs' size
TRAIN_STEPS = 300
REVIEW_STEPS = 100
WIDTH = 1400
REVIEW_DOCK_WIDTH = 560
MAX_BYTES = 300_000
#: the mask of the review's copy whose largest cell is erased
PLANTED = "cells_05"


def wait(signal, seconds: float) -> None:
    """Run the event loop until ``signal`` fires (RuntimeError after ``seconds``)."""
    from PyQt6.QtCore import QEventLoop, QTimer

    loop, fired = QEventLoop(), []
    signal.connect(lambda *a: (fired.append(a), loop.quit()))
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    if not fired:
        raise RuntimeError(f"nothing happened within {seconds:.0f} s")


def _palette_image(shot, keep):
    """A 256-colour PNG of ``shot``: the colours ``keep`` exactly (the class colours), the rest median-cut."""
    from PIL import Image

    keep = [tuple(int(v) for v in c[:3]) for c in keep]
    cut = shot.quantize(256 - len(keep), method=Image.Quantize.MEDIANCUT).getpalette()[: 3 * (256 - len(keep))]
    palette = Image.new("P", (1, 1))
    palette.putpalette(cut + [v for c in keep for v in c])
    return shot.quantize(palette=palette, dither=Image.Dither.NONE)


def save(window, path: Path) -> Path:
    """Grab ``window`` into ``path``: a PNG of at most :data:`MAX_BYTES` — as it is when it fits, else in 256
    colours that keep the class colours exact, scaled down when even that is too large."""
    import io

    from PIL import Image
    from PyQt6.QtCore import QBuffer, QIODevice

    from fcnstudio.gui.review_arrays import DISAGREE_COLOR

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    window.grab().save(buf, "PNG")
    shot = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
    shot.save(path, optimize=True)
    keep = [*window.session.project.colors, DISAGREE_COLOR, (255, 255, 255), (0, 0, 0)]
    width = shot.width
    while path.stat().st_size > MAX_BYTES and width >= 700:
        small = shot.resize((width, round(shot.height * width / shot.width)), Image.LANCZOS)
        _palette_image(small, keep).save(path, optimize=True)
        width = int(width * 0.9)
    return path


def training_picture(window, out: Path) -> Path:
    """Plain CE on the sample until the monitor warns (and one evaluation more), then the grab."""
    panel = window.training
    panel.settings_form.load_dict({"loss": "ce", "max_steps": TRAIN_STEPS})
    if not panel.start():
        raise RuntimeError("the Training dock did not start")
    worker = panel.worker
    warned = []
    worker.warned.connect(warned.append)
    worker.evaluated.connect(lambda ev: panel.stop() if warned and ev.step > warned[0].step else None)
    wait(panel.busy_changed, 1800)
    if not panel.banner.showing:
        raise RuntimeError("no collapse banner: the run recovered or never warned; try another TRAIN_STEPS")
    return save(window, out)


def plant(root: Path) -> None:
    """Erase the largest cell of :data:`PLANTED` (and its spots) from its mask: a label error to find."""
    import cv2
    import numpy as np

    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.io import read_mask, write_mask
    from fcnstudio.core.labels import load_project

    path = root / "masks" / f"{PLANTED}.png"
    mask = read_mask(path)
    n, cells, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
    largest = 1 + int(np.argmax(stats[1:n, cv2.CC_STAT_AREA]))
    mask[cells == largest] = 0
    write_mask(path, mask, load_project(open_dataset(root)).colors)


def review_picture(window, out: Path) -> Path:
    """A review from the Review dock with the training defaults, then its top region selected."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication

    from fcnstudio.gui.training_settings import DEFAULTS

    window.training.settings_form.load_dict(DEFAULTS)
    panel = window.review
    c = panel.controller
    panel.settings.set_values(3, None, REVIEW_STEPS)
    if not c.start():
        raise RuntimeError("the Review dock did not start a review")
    wait(c.job.finished, 3600)
    if c.queue is None or not c.queue.review.trusted or not c.queue.items():
        raise RuntimeError(f"no trusted review to show: {panel.status.text()}")
    for dock in (window.training.parentWidget(), window.runs.parentWidget()):
        dock.hide()  # the canvas and the Review dock get the height
    review_dock = window.review_dock.dock
    review_dock.raise_()
    window.resizeDocks([review_dock], [REVIEW_DOCK_WIDTH], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    c.step(1)
    window.show_status("")
    QApplication.processEvents()
    return save(window, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/pictures.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder of the PNGs (default: docs/)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fcn-pictures-") as tmp:
        tmp = Path(tmp)
        os.environ["FCNSTUDIO_SETTINGS"] = str(tmp / "settings.ini")
        from bench.training_cli import repaired_sample
        from fcnstudio.gui.app import create_app
        from fcnstudio.gui.main_window import MainWindow

        app = create_app()
        window = MainWindow()
        window.resize(WIDTH, 900)
        window.show()
        try:
            window.open_dataset(repaired_sample(tmp / "sample"))
            print(training_picture(window, out / "window-training.png"), flush=True)
            reviewed = repaired_sample(tmp / "planted")
            plant(reviewed)
            window.open_dataset(reviewed)
            print(review_picture(window, out / "window-review.png"), flush=True)
        finally:
            window.training.shutdown()
            if window.review_dock.built:  # (a review is only running when its panel was built)
                window.review.controller.shutdown()
            window.close()
            app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
