"""A SIGKILLed ``fcnstudio check`` / ``fcnstudio fix`` leaves no pool worker behind.

The parent is killed once its pool workers exist (the check is mid-run); every
process that was below it must be gone a few seconds later.
"""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from defects import binary_masks, make_dataset  # noqa: E402
from orphans import kill_once_children, wait_all_gone  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory):
    """Enough 0/255 pairs that a two-worker check takes a few seconds (``binary-255`` is fixable)."""
    return make_dataset(tmp_path_factory.mktemp("orphans") / "ds", binary_masks(n=300, h=256, w=320, top=255))


@pytest.mark.parametrize("argv", [["check", "--no-progress"], ["fix", "--code", "binary-255", "--dry-run"]],
                         ids=["check", "fix"])
def test_a_killed_run_leaves_no_worker(big_dataset, argv):
    cmd = [sys.executable, "-m", "fcnstudio", argv[0], str(big_dataset), *argv[1:], "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = kill_once_children(proc, at_least=2)
    left = wait_all_gone(workers, timeout=10.0)
    assert not left, f"{len(left)} of {len(workers)} pool processes outlived the killed {argv[0]}"
