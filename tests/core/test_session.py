"""The editing session without Qt: loading, read-only rules, undo/dirty state, saving, classes."""

from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from fcnstudio.core import edits
from fcnstudio.core.io import default_colors, read_mask_file
from fcnstudio.core.session import ASK_CANCEL, ASK_DISCARD, ASK_SAVE, EditSession, SessionError

COLORS = [(0, 0, 0), (200, 40, 40), (40, 200, 40)]


def palette_png(path, mask):
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette([v for c in default_colors(256) for v in c])
    img.save(path)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((20, 30), 100, np.uint8)).save(root / "images" / f"{name}.png")
    m = np.zeros((20, 30), np.uint8)
    m[5:10, 5:10] = 1
    palette_png(root / "masks" / "a.png", m)
    palette_png(root / "masks" / "b.png", np.zeros((20, 30), np.uint8))
    data = {"classes": [{"name": n, "color": list(c)} for n, c in zip(["bg", "cell", "spot"], COLORS)], "ignore_index": None}
    (root / "fcnstudio.json").write_text(json.dumps(data))
    return root


@pytest.fixture
def session(root):
    s = EditSession()
    s.open(root)
    yield s
    s.shutdown()


def brush(s, p0=(1, 1), p1=(8, 1), value=2):
    return s.apply(edits.brush, p0, p1, radius=1.5, value=value)


def test_core_session_imports_no_qt():
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import sys, fcnstudio.core.session; print('PyQt6' in sys.modules, 'torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_open_loads_the_first_pair_and_emits(root):
    s = EditSession()
    seen = []
    s.dataset_changed.connect(lambda: seen.append("dataset"))
    s.pair_changed.connect(lambda: seen.append("pair"))
    s.open(root)
    assert seen[:2] == ["dataset", "pair"]
    assert s.pair.name == "a" and s.editable and s.mask.dtype == np.uint8
    assert s.mask[6, 6] == 1 and not s.dirty


def test_stroke_is_one_undo_step_and_dirty_follows_the_saved_state(session):
    s = session
    before = s.mask.copy()
    changes = []
    s.mask_changed.connect(changes.append)
    s.begin_stroke()
    brush(s, (1, 1), (8, 1))
    brush(s, (8, 1), (8, 8))
    assert s.dirty
    s.end_stroke()
    assert len(changes) == 2 and s.can_undo
    after = s.mask.copy()
    s.undo()
    np.testing.assert_array_equal(s.mask, before)
    assert not s.dirty
    s.redo()
    np.testing.assert_array_equal(s.mask, after)
    s.save()
    assert not s.dirty
    s.undo()
    assert s.dirty  # back before the saved state
    s.redo()
    assert not s.dirty


def test_save_writes_palette_png_and_reads_back_equal(session, root):
    brush(session)
    path = session.save()
    mf = read_mask_file(path)
    assert mf.mode == "P"
    np.testing.assert_array_equal(mf.array, session.mask)
    assert [tuple(mf.palette[i]) for i in range(3)] == COLORS


def test_go_to_autosaves_or_asks(session, root):
    brush(session)
    edited = session.mask.copy()
    assert session.go_to(1)
    np.testing.assert_array_equal(read_mask_file(root / "masks" / "a.png").array, edited)
    session.autosave = False
    brush(session)
    asked = []
    assert not session.go_to(2, lambda msg, can_save: asked.append(msg) or ASK_CANCEL)
    assert session.index == 1 and session.dirty and asked
    assert not session.go_to(2)  # no one to ask: stay
    assert session.go_to(2, lambda msg, can_save: ASK_DISCARD)
    assert not read_mask_file(root / "masks" / "b.png").array.any()
    session.go_to(1)
    brush(session)
    assert session.go_to(0, lambda msg, can_save: ASK_SAVE)
    assert read_mask_file(root / "masks" / "b.png").array.any()


def test_history_is_kept_per_image(session):
    before = session.mask.copy()
    brush(session)
    session.go_to(1)
    session.go_to(0)
    session.undo()
    np.testing.assert_array_equal(session.mask, before)


def test_a_mask_rewritten_by_a_fix_loses_its_undo_history(session, root):
    brush(session)
    session.go_to(1)                       # autosaves a
    fixed = np.full((20, 30), 1, np.uint8)  # what a fix writes over a
    palette_png(root / "masks" / "a.png", fixed)
    brush(session, value=1)                # b has a history of its own, and is the current pair
    assert session.forget_history(["masks/a.png", "masks/b.png"]) == 1
    assert session.can_undo                # the current pair's is left to reload()
    session.go_to(0)
    np.testing.assert_array_equal(session.mask, fixed)
    assert not session.can_undo            # no stale patch can be replayed onto the fixed mask
    session.undo()
    np.testing.assert_array_equal(session.mask, fixed)


def test_new_mask_is_saved_with_the_pair_name(session, root):
    session.go_to(2)
    assert session.mask_is_new and session.pair.mask is None
    assert session.pair_status(2).no_mask
    brush(session)
    path = session.save()
    assert path == root / "masks" / "c.png"
    assert session.pair.mask == path and not session.pair_status(2).no_mask


def test_untouched_new_mask_is_not_written_on_switch(session, root):
    session.go_to(2)
    session.go_to(0)
    assert not (root / "masks" / "c.png").exists()


def test_non_png_mask_is_saved_as_png_and_the_original_kept_in_backup(tmp_path):
    root = tmp_path / "t"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "images" / "x.png")
    m = np.zeros((10, 10), np.uint8)
    m[2:4, 2:4] = 1
    Image.fromarray(m).save(root / "masks" / "x_mask.tif")
    s = EditSession()
    s.open(root)
    assert s.editable and s.pair.mask.suffix == ".tif"
    brush(s, (6, 6), (8, 8), value=1)
    path = s.save()
    assert path == root / "masks" / "x_mask.png"
    assert not (root / "masks" / "x_mask.tif").exists()
    backups = list((root / ".fcnstudio" / "backup").rglob("x_mask.tif"))
    assert len(backups) == 1
    np.testing.assert_array_equal(read_mask_file(path).array, s.mask)
    from fcnstudio.core.dataset import open_dataset

    assert open_dataset(root).pairs[0].mask == path


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda p: Image.fromarray(np.where(np.eye(10, dtype=bool), 255, 0).astype(np.uint8)).save(p / "x.png"), "binary-255"),
        (lambda p: Image.fromarray(np.dstack([np.eye(10, dtype=np.uint8) * 200] * 3)).save(p / "x.png"), "color-mask"),
        (lambda p: Image.fromarray(np.eye(10, dtype=np.float32) * 0.5).save(p / "x.tif"), "non-integer-mask"),
        (lambda p: cv2.imwrite(str(p / "x.png"), (np.eye(10) * 7).astype(np.uint16)), "label-out-of-range"),
        (lambda p: Image.fromarray(np.eye(10, dtype=np.uint8)).save(p / "x.jpg", quality=95), "lossy-mask"),
        (lambda p: (p / "x.png").write_bytes(b"garbage"), "unreadable"),
        (lambda p: palette_png(p / "x.png", np.zeros((12, 10), np.uint8)), "shape-mismatch"),
    ],
)
def test_masks_that_cannot_be_painted_safely_open_read_only(tmp_path, make, code):
    root = tmp_path / "ro"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "images" / "x.png")
    make(root / "masks")
    data = {"classes": [{"name": "bg"}, {"name": "fg"}], "ignore_index": None}
    (root / "fcnstudio.json").write_text(json.dumps(data))
    s = EditSession()
    s.open(root)
    assert s.read_only is not None and s.read_only.code == code, s.read_only
    assert not s.editable
    before = None if s.mask is None else s.mask.copy()
    assert brush(s, value=1) is None and not s.dirty
    if before is not None:
        np.testing.assert_array_equal(s.mask, before)
    with pytest.raises(SessionError):
        s.save()


def test_voc_palette_with_255_void_is_editable(tmp_path):
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "images" / "x.jpg")
    m = np.zeros((10, 10), np.uint8)
    m[2:6, 2:6] = 15
    m[1, 1:7] = 255
    palette_png(root / "masks" / "x.png", m)
    s = EditSession()
    s.open(root)
    assert s.editable and s.project.num_classes == 21 and s.project.ignore_index == 255
    assert s.class_name(255) == "ignore" and s.class_name(15) == "person"


def test_class_edits_write_the_project_file(tmp_path):
    root = tmp_path / "np"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "images" / "x.png")
    Image.fromarray(np.eye(10, dtype=np.uint8)).save(root / "masks" / "x.png")  # grey 0/1: two classes
    s = EditSession()
    s.open(root)
    assert s.project.inferred and s.project.num_classes == 2 and not (root / "fcnstudio.json").exists()
    seen = []
    s.project_changed.connect(lambda: seen.append(1))
    i = s.add_class("nucleus")
    s.rename_class(1, "cell")
    s.recolor_class(i, (1, 2, 3))
    data = json.loads((root / "fcnstudio.json").read_text())
    assert [c["name"] for c in data["classes"]][1:] == ["cell", "nucleus"]
    assert data["classes"][i]["color"] == [1, 2, 3] and len(seen) == 3
    with pytest.raises(SessionError):
        s.rename_class(1, "nucleus")
    with pytest.raises(SessionError):
        s.rename_class(1, "   ")


def test_findings_mark_pairs_with_errors(session):
    from fcnstudio.core.checker.findings import Finding

    session.set_findings([
        Finding("shape-mismatch", "error", "masks/b.png", "b"),
        Finding("class-imbalance", "warning", "masks/a.png", "a"),
    ])
    assert session.pair_status(1).errors == 1
    assert session.pair_status(0).errors == 0


def test_describe_pixel(session):
    info = session.describe(6, 6)
    assert info == {"x": 6, "y": 6, "value": 100, "class": "cell"}
    assert session.describe(-1, 0) is None and session.describe(30, 0) is None


def test_class_counts(session):
    counts = session.class_counts()
    assert counts.tolist() == [20 * 30 - 25, 25, 0]


def test_next_pair_is_read_ahead_and_a_changed_file_is_read_again(session, root):
    import threading

    assert session.read_ahead.wait(1)
    m = np.zeros((20, 30), np.uint8)
    m[0, 0] = 2
    palette_png(root / "masks" / "b.png", m)  # changed on disk after it was read ahead
    st = (root / "masks" / "b.png").stat()
    os.utime(root / "masks" / "b.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a coarse clock may not tick
    session.go_to(1)
    assert session.mask[0, 0] == 2
    session.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("fcnstudio-read-ahead")]
    session.go_to(2)  # still usable after shutdown
    assert session.pair.name == "c"


def test_unreadable_folder_raises_and_keeps_the_session(session, tmp_path):
    from fcnstudio.core.dataset import DatasetError

    with pytest.raises(DatasetError):
        session.open(tmp_path / "nope")
    assert session.pair.name == "a"


def test_write_protected_dataset_opens_read_only_even_for_root(root):
    import stat

    mask = root / "masks" / "a.png"
    mask.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        s = EditSession(prefetch=False)
        s.open(root)
        assert s.read_only is not None and s.read_only.code == "write-protected"
        assert brush(s) is None
        with pytest.raises(SessionError):
            s.save()
    finally:
        mask.chmod(0o644)


def test_write_protected_masks_folder_blocks_new_masks(root):
    (root / "masks").chmod(0o555)
    try:
        s = EditSession(prefetch=False)
        s.open(root, index=2)
        assert s.mask_is_new and s.read_only is not None and s.read_only.code == "write-protected"
    finally:
        (root / "masks").chmod(0o755)
