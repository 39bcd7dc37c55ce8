"""A hostile environment: unreadable files, a read-only dataset, a full disk, very long names.

Tests run as root in CI, where ``chmod`` denies nothing; permission denial
and read-only folders are simulated (faults.py: ``denied_reads``,
``read_only``, ``disk_full``), in-process and, through a prelude, in CLI
children. Each test checks the promise: a clear error naming the file, the
file on disk untouched, no temp file left behind, edits kept in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import entrypoints as ep
import hostile
from faults import (CLI_DENY_PRELUDE, CLI_READ_ONLY_PRELUDE, IS_ROOT, denied_reads,
                      disk_full, prelude, read_only)


def _dataset(root: Path, n: int = 3, binary: bool = False) -> Path:
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / "images" / f"p{i}.png").write_bytes(hostile.valid_files(seed=i)["rgb.png"])
        m = hostile.sample_mask(classes=2, seed=i)
        (root / "masks" / f"p{i}.png").write_bytes(hostile.array_png(m * 255 if binary else m))
    return root


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*.tmp")]


# ---------------------------------------------------------------- permission denied


@pytest.mark.parametrize("role", ["image", "mask"])
def test_unreadable_file_is_reported_by_every_entry_point(sandbox, role, sessions):
    root = _dataset(sandbox / "dataset")
    bad = root / ("images" if role == "image" else "masks") / "p1.png"
    real = None
    if not IS_ROOT:  # the real thing where it works
        real = bad.stat().st_mode
        bad.chmod(0)
    try:
        with denied_reads(bad):
            from fcnstudio.core.dataset import open_dataset
            from fcnstudio.core.io import ImageReadError, read_image, read_mask_file

            ds = open_dataset(root)
            with pytest.raises(ImageReadError, match="p1.png"):
                (read_image if role == "image" else read_mask_file)(bad)
            from fcnstudio.core.checker.run import check_dataset

            result = check_dataset(ds, workers=1)
            assert ds.relative(bad) in result.files_with("unreadable")

            s = sessions(autosave=False)
            s.open(root, index=1)
            said = " ".join(s.load_errors) + (s.read_only.message if s.read_only else "")
            assert "p1.png" in said and "permission" in said.lower()
            assert not s.editable or role == "image"

            from fcnstudio.core.labels import load_project
            from fcnstudio.train.data import PairStore
            from fcnstudio.train.errors import DataError

            store = PairStore(ds, ds.complete_pairs, load_project(ds), "rgb")
            with pytest.raises(DataError, match="p1.png"):
                store.load(1)
    finally:
        if real is not None:
            bad.chmod(real)


def test_cli_check_reports_an_unreadable_file(sandbox):
    root = _dataset(sandbox / "dataset")
    bad = root / "masks" / "p2.png"
    proc = ep.cli(["check", str(root), "--json", "--workers", "1"], cwd=sandbox,
                  prelude=prelude(CLI_DENY_PRELUDE, bad))
    assert not ep.judge_cli(proc, (1,), what="check")
    import json

    findings = json.loads(proc.stdout)["findings"]
    assert any(f["code"] == "unreadable" and "masks/p2.png" in f["files"] for f in findings)


# ---------------------------------------------------------------- read-only dataset


def test_editor_save_on_a_read_only_dataset_keeps_the_edit(sandbox, sessions):
    from fcnstudio.core.edits import brush
    from fcnstudio.core.io import read_mask_file
    from fcnstudio.core.session import ASK_CANCEL

    root = _dataset(sandbox / "dataset")
    s = sessions(autosave=True)
    s.open(root, index=0)
    before = (root / "masks" / "p0.png").read_bytes()
    s.apply(brush, (10, 10), (30, 20), radius=4, value=1)
    edited = s.mask.copy()
    asked = []
    with read_only(root):
        with pytest.raises(OSError):
            s.save()
        assert s.dirty, "a failed save must leave the edit marked unsaved"
        assert not s.go_to(1, ask=lambda msg, can_save: asked.append((msg, can_save)) or ASK_CANCEL)
    assert asked and "p0" in asked[0][0] and asked[0][1] is False, asked
    assert s.index == 0 and np.array_equal(s.mask, edited), "the edit was lost"
    assert (root / "masks" / "p0.png").read_bytes() == before
    assert not _temp_files(root)
    assert s.save() is not None  # once writable again, the same edit saves
    assert np.array_equal(read_mask_file(root / "masks" / "p0.png").array, edited)


def test_editor_opens_a_write_protected_folder_read_only_even_as_root(sandbox, sessions):
    """Mode bits without write permission (``chmod a-w``): the mask opens read-only, saying why; nothing written."""

    root = _dataset(sandbox / "dataset")
    masks = root / "masks"
    mode = masks.stat().st_mode
    masks.chmod(0o555)
    try:
        before = hostile.snapshot(root)
        s = sessions(autosave=True)
        s.open(root)
        assert not s.editable and s.read_only is not None and "p0.png" in s.read_only.message
        s.go_to(1)
        assert hostile.snapshot(root) == before
    finally:
        masks.chmod(mode)


def test_check_on_a_read_only_dataset_works_and_writes_nothing(sandbox):
    root = _dataset(sandbox / "dataset", binary=True)
    before = hostile.snapshot(root)
    proc = ep.cli(["check", str(root), "--json", "--workers", "1"], cwd=sandbox,
                  prelude=prelude(CLI_READ_ONLY_PRELUDE, root))
    assert not ep.judge_cli(proc, (1,), what="check")
    assert hostile.snapshot(root) == before


def test_cli_fix_on_a_read_only_dataset_says_so_in_one_line(sandbox):
    root = _dataset(sandbox / "dataset", binary=True)
    before = hostile.snapshot(root)
    proc = ep.cli(["fix", str(root), "--code", "binary-255", "--workers", "1"], cwd=sandbox,
                  prelude=prelude(CLI_READ_ONLY_PRELUDE, root))
    assert hostile.snapshot(root) == before
    assert not ep.judge_cli(proc, (2,), names=["Read-only"], what="fix")


def test_cli_train_on_a_read_only_dataset_says_so_in_one_line(sandbox, capsys):
    """The default run folder is inside the dataset: refusing to create it is a usage error, not a crash."""
    from fcnstudio.cli import main

    root = _dataset(sandbox / "dataset", n=2)
    capsys.readouterr()
    with read_only(root):
        rc = main(["train", str(root), "--max-steps", "1", "--width", "2", "--depth", "1", "--crop", "16",
                   "--batch", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fcnstudio train:") and "run folder" in last and "Traceback" not in err, err


# ---------------------------------------------------------------- full disk


@pytest.mark.parametrize("at", ["write", "fsync"])
def test_mask_save_on_a_full_disk_leaves_the_old_mask(tmp_path, at):
    from fcnstudio.core.io import read_mask_file, write_mask

    target = tmp_path / "m.png"
    old = hostile.sample_mask(64, 64, seed=1)
    write_mask(target, old)
    before = target.read_bytes()
    with disk_full(tmp_path, at=at), pytest.raises(OSError) as info:
        write_mask(target, hostile.sample_mask(64, 64, seed=2))
    assert info.value.errno == 28
    assert target.read_bytes() == before
    assert np.array_equal(read_mask_file(target).array, old)
    assert os.listdir(tmp_path) == ["m.png"], "a temp file was left behind"


@pytest.mark.parametrize("at", ["write", "fsync"])
def test_project_save_on_a_full_disk_leaves_the_old_file(tmp_path, at):
    from fcnstudio.core.project import ClassInfo, Project, save_project

    p1 = Project(classes=(ClassInfo("a", (0, 0, 0)), ClassInfo("b", (1, 2, 3))))
    save_project(tmp_path, p1)
    before = (tmp_path / "fcnstudio.json").read_bytes()
    with disk_full(tmp_path, at=at), pytest.raises(OSError):
        save_project(tmp_path, p1.with_changes(ignore_index=None))
    assert (tmp_path / "fcnstudio.json").read_bytes() == before
    assert os.listdir(tmp_path) == ["fcnstudio.json"]


def test_checkpoint_save_on_a_full_disk_leaves_the_old_checkpoint(tmp_path):
    import torch

    from fcnstudio.train.checkpoint import load_checkpoint, save_checkpoint

    ck = {"model_config": {}, "model": {"w": torch.ones(3)}, "class_names": ["a", "b"], "step": 1}
    save_checkpoint(tmp_path / "last.pt", ck)
    before = (tmp_path / "last.pt").read_bytes()
    with disk_full(tmp_path), pytest.raises(OSError):
        save_checkpoint(tmp_path / "last.pt", {**ck, "step": 2})
    assert (tmp_path / "last.pt").read_bytes() == before
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_editor_autosave_on_a_full_disk_asks_and_keeps_the_edit(sandbox, sessions):
    from fcnstudio.core.edits import brush
    from fcnstudio.core.session import ASK_DISCARD

    root = _dataset(sandbox / "dataset")
    s = sessions(autosave=True)
    s.open(root, index=0)
    s.apply(brush, (5, 5), (20, 20), radius=3, value=1)
    before = (root / "masks" / "p0.png").read_bytes()
    asked = []
    with disk_full(root):
        # without an ask callback the session refuses to leave: the edit is not dropped silently
        assert not s.go_to(1)
        assert s.dirty and s.index == 0
        assert s.go_to(1, ask=lambda msg, can: asked.append(msg) or ASK_DISCARD)
    assert asked and "p0" in asked[0] and "space" in asked[0].lower(), asked
    assert (root / "masks" / "p0.png").read_bytes() == before
    assert not _temp_files(root)


@pytest.mark.parametrize("at", ["write", "fsync"])
def test_fix_on_a_full_disk_leaves_every_original(sandbox, at):
    """ENOSPC during the backups or the writes: each original is untouched or fixed-with-backup; no temp file."""
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    import killharness as kh

    root = sandbox / "dataset"
    originals = kh.make_fix_dataset(root, n=4, size=(40, 48))
    plan = fixes.plan_fix(check_dataset(root, workers=1), "binary-255")
    with disk_full(root / "masks", at=at):
        try:
            report = fixes.apply_fix(plan)
        except OSError:
            report = None
    problem, info = kh._verify_fix(root, originals)
    assert problem is None, problem
    assert info["changed"] == 0
    assert not _temp_files(root)
    if report is not None:
        assert len(report.errors) == 4 and all("c00" in e for e in report.errors), report.errors


def test_fix_with_a_full_disk_for_the_backup_changes_nothing(sandbox):
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    import killharness as kh

    root = sandbox / "dataset"
    originals = kh.make_fix_dataset(root, n=3, size=(40, 48))
    plan = fixes.plan_fix(check_dataset(root, workers=1), "binary-255")
    (root / ".fcnstudio" / "backup").mkdir(parents=True, exist_ok=True)
    with disk_full(root / ".fcnstudio"):
        with pytest.raises(OSError):
            fixes.apply_fix(plan)
    for name, data in originals.items():
        assert (root / "masks" / name).read_bytes() == data


# ---------------------------------------------------------------- names at the file-system limit


def test_mask_with_a_255_byte_name_saves_atomically(tmp_path):
    """The temp file of an atomic write must fit the 255-byte name limit too."""
    from fcnstudio.core.io import read_mask_file, write_mask

    for name in ("a" * 251 + ".png", "é" * 125 + ".png", os.fsdecode(b"\xff" * 251 + b".png")):
        write_mask(tmp_path / name, np.ones((3, 3), np.uint8))
        assert read_mask_file(tmp_path / name).array.sum() == 9
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_editor_saves_a_mask_with_a_long_name(sandbox, sessions):
    from fcnstudio.core.edits import brush
    from fcnstudio.core.io import read_mask_file

    root = sandbox / "dataset"
    stem = "s" * 240
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    (root / "images" / f"{stem}.png").write_bytes(hostile.valid_files()["rgb.png"])
    (root / "masks" / f"{stem}.png").write_bytes(hostile.array_png(hostile.sample_mask(classes=2)))
    s = sessions(autosave=False)
    s.open(root)
    s.apply(brush, (4, 4), (4, 4), radius=2, value=1 - int(s.mask[4, 4]))
    path = s.save()
    assert path is not None and path.name == f"{stem}.png"
    assert np.array_equal(read_mask_file(path).array, s.mask)


# ---------------------------------------------------------------- links that leave the dataset


def test_saving_a_mask_that_links_outside_never_writes_outside(sandbox, sessions):
    """masks/p0.png -> ../../outside/m.png: the editor replaces the link, the outside file stays as it was."""
    from fcnstudio.core.edits import brush

    root = _dataset(sandbox / "dataset", n=2)
    outside = sandbox / "outside" / "mask.png"
    (root / "masks" / "p0.png").unlink()
    os.symlink(os.path.relpath(outside, root / "masks"), root / "masks" / "p0.png")
    s = sessions(autosave=False)
    s.open(root, index=0)
    assert s.editable
    s.apply(brush, (6, 6), (6, 6), radius=3, value=1 - int(s.mask[6, 6]))
    s.save()  # the sandbox fixture asserts outside/ is unchanged
    assert not (root / "masks" / "p0.png").is_symlink()


def test_fix_refuses_a_mask_that_links_outside(sandbox):
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    root = _dataset(sandbox / "dataset", n=3, binary=True)
    outside = sandbox / "outside" / "mask255.png"
    (root / "masks" / "p1.png").unlink()
    os.symlink(os.path.relpath(outside, root / "masks"), root / "masks" / "p1.png")
    plan = fixes.plan_fix(check_dataset(root, workers=1), "binary-255")
    assert "masks/p1.png" in [f.path for f in plan.files], "the linked mask should be found (and refused)"
    report = fixes.apply_fix(plan)
    assert "masks/p1.png" not in report.written
    assert (root / "masks" / "p1.png").is_symlink()  # left alone; outside/ unchanged (sandbox fixture)
