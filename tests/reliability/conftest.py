"""Reliability tests: crash-safe writes (kill harness) and hostile inputs (corpus + fuzzing).

Makes this folder's helpers importable (``hostile``, ``entrypoints``,
``killharness``, ``faults``) and provides the ``sandbox`` and ``tmp_dir``
fixtures. Helpers live in their own modules, not here: several ``conftest``
modules exist in the suite, so ``from conftest import ...`` is ambiguous.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")


@pytest.fixture
def sandbox(tmp_path):
    """``tmp_path/sandbox`` holding ``dataset/`` and ``outside/`` (sentinel files that must never change).

    Yields the sandbox folder; on exit, asserts that nothing outside the
    dataset, the run folder (``sandbox/run``) and the predict output
    (``sandbox/out``) changed, i.e. that ``outside/`` and the sandbox root are
    as they were.
    """
    import hostile

    box = tmp_path / "sandbox"
    (box / "outside").mkdir(parents=True)
    (box / "outside" / "keep.png").write_bytes(hostile.valid_files()["rgb.png"])
    (box / "outside" / "fcnstudio.json").write_text('{"classes": ["a", "b"]}')
    m = hostile.sample_mask(classes=2)  # 32x48, like the corpus images: targets for links leaving the dataset
    (box / "outside" / "mask.png").write_bytes(hostile.array_png(m))
    (box / "outside" / "mask255.png").write_bytes(hostile.array_png(m * 255))
    keep = [box / "dataset", box / "run", box / "out"]
    before = hostile.snapshot(tmp_path, skip=tuple(keep))
    yield box
    after = hostile.snapshot(tmp_path, skip=tuple(keep))
    changes = hostile.diff_snapshots(before, after)
    assert not changes, f"files outside the dataset/run folder changed: {changes[:10]}"


@pytest.fixture
def tmp_dir():
    """A fresh folder outside pytest's tmp tree (for zygote work dirs)."""
    with tempfile.TemporaryDirectory(prefix="fcn-rel-") as d:
        yield Path(d)


@pytest.fixture
def sessions():
    """``sessions(**kw)`` makes an EditSession that is shut down after the test, its read-ahead thread joined."""
    from fcnstudio.core.session import EditSession

    made = []

    def make(**kw):
        made.append(EditSession(**kw))
        return made[-1]

    yield make
    for s in made:
        s.shutdown()
