"""Crash-safe writes, proven by killing real writer processes (see killharness.py).

Each test SIGKILLs a writer ~20 times at random moments and checks, after each
kill, that the target is the complete old or the complete new version. The
control test shows that the harness catches a writer that is *not* atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

import killharness as kh

ROUNDS = 20


def _assert_survived(stats: kh.KillStats) -> None:
    assert stats.rounds == ROUNDS
    assert not stats.failures, "\n".join(stats.failures[:5])
    assert stats.survival == 1.0
    # the random delays must put kills in the middle of writes too, or nothing was tested
    assert stats.finished_before_kill < stats.rounds


def test_harness_catches_a_non_atomic_writer(tmp_dir):
    """Control: Pillow saving straight into the target loses the mask when killed mid-save."""
    stats = kh.run_kills("naive_mask_save", 8, tmp_dir, seed=3)
    assert stats.survived < stats.rounds, "the harness did not notice torn writes: it proves nothing"


def test_mask_save_survives_kills(tmp_dir):
    stats = kh.run_kills("mask_save", ROUNDS, tmp_dir, seed=1)
    _assert_survived(stats)


def test_project_file_survives_kills(tmp_dir):
    stats = kh.run_kills("project_file", ROUNDS, tmp_dir, seed=2)
    _assert_survived(stats)
    assert stats.mid_write > 0, "no kill landed between mkstemp and rename"


def test_checkpoint_save_survives_kills(tmp_dir):
    stats = kh.run_kills("checkpoint", ROUNDS, tmp_dir, seed=4)
    _assert_survived(stats)


def test_fix_with_backup_survives_kills(tmp_dir):
    """After a kill mid-fix every mask is untouched, or fixed with a complete backup of its original."""
    stats = kh.run_kills("fix", ROUNDS, tmp_dir, seed=5)
    _assert_survived(stats)
    changed = stats.extra["changed"]
    assert any(0 < c < 8 for c in changed), f"no kill landed mid-fix: {changed}"


def test_fix_rerun_after_kill_completes_and_keeps_originals(tmp_dir):
    """A fix interrupted by a kill, run again, fixes the rest; the first backup still holds every original."""
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    stats = kh.run_kills("fix", 1, tmp_dir, seed=6, max_delay_ms=60)
    d = tmp_dir / "fix"
    originals = {p.name: p.read_bytes() for p in (tmp_dir / "fix-template" / "masks").iterdir()}
    assert stats.survived == 1, stats.failures
    result = check_dataset(d, workers=1)
    codes = result.codes()
    if "binary-255" in codes or "inconsistent-encoding" in codes:
        code = "binary-255" if "binary-255" in codes else "inconsistent-encoding"
        fixes.apply_fix(fixes.plan_fix(result, code))
    problem, info = kh._verify_fix(d, originals)
    assert problem is None
    assert info["changed"] == len(originals), "the second run did not finish the fix"
    assert not {"binary-255", "inconsistent-encoding"} & check_dataset(d, workers=1).codes()


def test_leftover_temp_files_are_never_data(tmp_path):
    """A kill between mkstemp and rename leaves ``.NAME.xxxx.tmp``: the dataset listing skips it."""
    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.io import write_mask

    import numpy as np

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    write_mask(tmp_path / "images" / "a.png", np.zeros((4, 4), np.uint8))
    write_mask(tmp_path / "masks" / "a.png", np.zeros((4, 4), np.uint8))
    for sub in ("images", "masks"):
        (tmp_path / sub / ".a.png.k2j4h1x0.tmp").write_bytes(b"\x89PNG partial")
        (tmp_path / sub / ".b.png.zzzzzzzz.tmp").write_bytes(b"\x89PNG partial")
    ds = open_dataset(tmp_path)
    names = {p.name for pair in ds.pairs for p in (pair.image, pair.mask) if p is not None}
    assert names == {"a.png"}


def test_fix_backups_are_durable_before_any_original_is_replaced(tmp_path, monkeypatch):
    """Power-loss ordering: every backup file (and its folder) is fsynced before the first mask is replaced.

    A SIGKILL cannot show this (the page cache survives a process crash), so the
    test records fsync and rename calls instead. (Backups were shutil.copy2 without
    fsync: found here, fixed in core/fixes.py.)
    """
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    d = tmp_path / "ds"
    kh.make_fix_dataset(d, n=3, size=(32, 40))
    plan = fixes.plan_fix(check_dataset(d, workers=1), "binary-255")
    synced: set[str] = set()
    late: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        try:
            synced.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        if Path(dst).parent.name == "masks":
            broot = d / ".fcnstudio" / "backup"
            for dirpath, _, files in os.walk(broot):
                for f in files:
                    p = os.path.join(dirpath, f)
                    if p not in synced:
                        late.append(f"file {os.path.relpath(p, d)}")
                if os.path.abspath(dirpath) not in synced:
                    late.append(f"folder {os.path.relpath(dirpath, d)}")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    fixes.apply_fix(plan)
    assert not late, f"not fsynced before an original was replaced: {sorted(set(late))[:6]}"


def test_training_run_folder_survives_kills(tmp_dir):
    """A real run killed at random moments: config.json parses, best.pt/last.pt load, events.jsonl lines parse
    (only a torn *last* line is tolerated, the mark of an interrupted append)."""
    stats = kh.run_kills("train_run", 4, tmp_dir, seed=7, max_delay_ms=700)
    assert not stats.failures, "\n".join(stats.failures)
    assert stats.extra.get("checkpoints_checked", 0) > 0, "no kill left a checkpoint to check"
