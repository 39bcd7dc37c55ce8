"""A SIGKILLed window leaves none of the Checker dock's pool processes behind.

A child interpreter opens the real window on a big dataset, starts a check
from the Checker dock with two worker processes (started by a fork server,
as the check runs in a job thread) and is SIGKILLed once they exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py and orphans.py

from defects import binary_masks, make_dataset  # noqa: E402
from orphans import kill_once_children, wait_all_gone  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys

    if __name__ == "__main__":  # the fork server re-imports this script in its workers
        from PyQt6.QtWidgets import QApplication
        from fcnstudio.gui.main_window import MainWindow

        app = QApplication(sys.argv[:1])
        window = MainWindow()
        window.open_dataset(sys.argv[1])
        window.checker.workers = 2
        window.show()
        assert window.checker.start_check()
        app.exec()
""")


def test_a_killed_window_leaves_no_checker_worker(tmp_path):
    root = make_dataset(tmp_path / "big", binary_masks(2, h=256, w=320))
    for kind in ("images", "masks"):
        for src in sorted((root / kind).iterdir()):
            for i in range(400):
                shutil.copyfile(src, src.with_name(f"{src.stem}_{i:03d}{src.suffix}"))
    script = tmp_path / "open_and_check.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen",
           "FCNSTUDIO_SETTINGS": str(tmp_path / "settings.ini")}
    proc = subprocess.Popen([sys.executable, str(script), str(root)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    left_behind = kill_once_children(proc, at_least=3, timeout=120)  # the fork server and two workers
    left = wait_all_gone(left_behind, timeout=10.0)
    assert not left, f"{len(left)} of {len(left_behind)} pool processes outlived the killed window"
