"""Crash recovery without Qt: journal unsaved edits, open a new session, restore them bit for bit."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from fcnstudio.core import edits
from fcnstudio.core.io import default_colors, read_mask
from fcnstudio.core.recovery.follower import RecoveryError, SessionFollower
from fcnstudio.core.recovery.journal import RECOVERY_DIR
from fcnstudio.core.recovery.journal_file import encode_journal, read_entry
from fcnstudio.core.session import EditSession

H, W = 24, 32


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
        Image.fromarray(np.full((H, W), 100, np.uint8)).save(root / "images" / f"{name}.png")
    m = np.zeros((H, W), np.uint8)
    m[5:10, 5:10] = 1
    palette_png(root / "masks" / "a.png", m)
    palette_png(root / "masks" / "b.png", np.zeros((H, W), np.uint8))
    # c has no mask yet
    data = {"classes": [{"name": n, "color": list(c)} for n, c in zip(["bg", "cell", "spot"], default_colors(3))]}
    (root / "fcnstudio.json").write_text(json.dumps(data))
    return root


@pytest.fixture
def followers():
    """``{session: the SessionFollower journalling it}``, as the window composes them."""
    return {}


@pytest.fixture
def sessions(followers):
    made = []

    def make(root=None, index=0):
        s = EditSession(autosave=False)
        followers[s] = SessionFollower(s)
        made.append(s)
        if root is not None:
            s.open(root, index)
        return s

    yield make
    for s in made:
        s.shutdown()


def journals(root):
    folder = root / RECOVERY_DIR
    return sorted(p.name for p in folder.glob("*.npz")) if folder.is_dir() else []


def paint(s):
    s.apply(edits.brush, (1, 1), (12, 3), radius=2, value=2)
    s.apply(edits.fill, (30, 20), value=1)
    s.apply(edits.brush, (7, 7), (7, 7), radius=1.5, value=0)  # erase inside the saved block


def test_journal_then_restore_in_a_new_session_gives_the_same_pixels(root, sessions, followers):
    s = sessions(root)
    paint(s)
    assert journals(root) == []  # painting alone never writes
    assert followers[s].flush()
    expected = s.mask.copy()
    assert len(journals(root)) == 1
    s.shutdown()  # as if killed: nothing saved

    t = sessions(root, index=1)  # another pair is current when the journal is found
    entries, problems = followers[t].entries()
    assert problems == [] and [e.name for e in entries] == ["a"]
    preview = followers[t].preview(entries[0])
    assert not preview.disk_changed and preview.note == ""
    saved = read_mask(root / "masks" / "a.png")
    assert preview.changed == int(np.count_nonzero(expected != saved))
    assert followers[t].restore(entries[0]) == preview.changed
    assert t.pair.name == "a" and t.dirty
    np.testing.assert_array_equal(t.mask, expected)
    assert t.undo() is not None  # one undo step takes the restored edits out
    np.testing.assert_array_equal(t.mask, saved)
    t.redo()
    t.save()
    np.testing.assert_array_equal(read_mask(root / "masks" / "a.png"), expected)
    assert journals(root) == []


def test_only_the_union_box_of_the_changes_is_stored(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    s.apply(edits.brush, (20, 15), (22, 15), radius=1, value=2)
    followers[s].flush()
    [name] = journals(root)
    entry, values = read_entry(root / RECOVERY_DIR / name, values=True)
    assert (entry.rect.x0, entry.rect.y0, entry.rect.x1, entry.rect.y1) == (2, 3, 24, 17)
    assert values.shape == entry.rect.shape and entry.shape == (H, W) and entry.dtype == "uint8"
    np.testing.assert_array_equal(values, s.mask[entry.rect.slices])
    assert entry.image == "images/a.png" and entry.mask == "masks/a.png"
    assert entry.mask_size == (root / "masks" / "a.png").stat().st_size


def test_tick_writes_at_most_every_interval_and_only_after_changes(root, sessions, followers):
    s = sessions(root)
    rec = followers[s]
    assert not rec.tick(now=100.0)  # nothing to journal
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    assert rec.tick(now=100.0)
    s.apply(edits.brush, (3, 8), (6, 8), radius=1, value=2)
    assert not rec.tick(now=100.0 + rec.interval / 2)  # too soon
    assert rec.tick(now=100.0 + rec.interval)
    assert not rec.tick(now=200.0)  # no change since
    rec.journal.wait()
    assert len(journals(root)) == 1


@pytest.mark.parametrize("how", ["save", "discard", "undo", "leave-with-autosave"])
def test_saving_or_dropping_the_edits_removes_the_journal(root, sessions, how, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    assert len(journals(root)) == 1
    if how == "save":
        s.save()
    elif how == "discard":
        s.discard()
    elif how == "undo":
        s.undo()
    else:
        s.autosave = True
        assert s.step(1)
    assert journals(root) == []
    assert not followers[s].flush()  # clean: nothing to write


def test_a_write_in_flight_does_not_come_back_after_saving(root, sessions, followers):
    s = sessions(root)
    for i in range(5):
        s.apply(edits.brush, (3, 4 + i), (20, 4 + i), radius=1, value=2)
        followers[s].tick(force=True)
        s.save()
    followers[s].journal.wait()
    assert journals(root) == []


def test_edits_after_a_save_are_journalled_against_the_saved_file(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    s.save()
    s.apply(edits.brush, (3, 14), (6, 14), radius=1, value=1)
    followers[s].flush()
    expected = s.mask.copy()
    [name] = journals(root)
    entry = read_entry(root / RECOVERY_DIR / name)
    assert entry.rect.y0 >= 13  # the saved stroke is not part of the unsaved box
    s.shutdown()
    t = sessions(root, index=2)
    [e] = followers[t].entries()[0]
    assert not followers[t].preview(e).disk_changed
    followers[t].restore(e)
    np.testing.assert_array_equal(t.mask, expected)


def test_a_new_mask_is_restored(root, sessions, followers):
    s = sessions(root, index=2)  # c: no mask file yet
    assert s.mask_is_new
    s.apply(edits.brush, (3, 4), (16, 9), radius=3, value=1)
    followers[s].flush()
    expected = s.mask.copy()
    s.shutdown()
    t = sessions(root)
    [e] = followers[t].entries()[0]
    assert e.mask_size is None and e.mask == "masks/c.png"
    assert followers[t].restore(e) == int(np.count_nonzero(expected))
    np.testing.assert_array_equal(t.mask, expected)
    t.save()
    np.testing.assert_array_equal(read_mask(root / "masks" / "c.png"), expected)
    assert journals(root) == []


def test_a_mask_changed_on_disk_is_flagged_and_can_still_be_restored(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    journalled = s.mask.copy()
    s.shutdown()
    other = np.zeros((H, W), np.uint8)
    other[15:20, 20:30] = 2  # another program rewrote the mask, outside the edited box
    palette_png(root / "masks" / "a.png", other)
    os.utime(root / "masks" / "a.png", ns=(1, 1))
    t = sessions(root, index=1)
    [e] = followers[t].entries()[0]
    preview = followers[t].preview(e)
    assert preview.disk_changed
    followers[t].restore(e)
    expected = other.copy()
    expected[e.rect.slices] = journalled[e.rect.slices]
    np.testing.assert_array_equal(t.mask, expected)


def test_declining_deletes_the_journal(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    s.shutdown()
    t = sessions(root)
    [e] = followers[t].entries()[0]
    followers[t].discard(e)
    assert journals(root) == [] and followers[t].entries() == ([], [])
    assert not t.dirty


def test_a_restored_pair_stays_journalled_until_saved(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    s.shutdown()
    t = sessions(root)
    [e] = followers[t].entries()[0]
    followers[t].restore(e)
    assert len(journals(root)) == 1  # a second crash before saving still loses nothing
    assert followers[t].entries() == ([], [])  # but it is this session's own now, not offered again
    t.save()
    assert journals(root) == []


def test_restore_refuses_a_mask_of_another_size(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    s.shutdown()
    palette_png(root / "masks" / "a.png", np.zeros((H + 1, W), np.uint8))
    Image.fromarray(np.full((H + 1, W), 100, np.uint8)).save(root / "images" / "a.png")
    t = sessions(root, index=1)
    [e] = followers[t].entries()[0]
    assert followers[t].preview(e).note
    with pytest.raises(RecoveryError, match="discard"):
        followers[t].restore(e)
    assert len(journals(root)) == 1


def _valid_journal(root, sessions, followers):
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    s.shutdown()
    [name] = journals(root)
    return root / RECOVERY_DIR / name


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _header(**change) -> np.ndarray:
    h = {"format": 1, "name": "a", "image": "images/a.png", "mask": "masks/a.png", "rect": [0, 0, 4, 4],
         "shape": [H, W], "dtype": "uint8", "written": 1.0, "mask_size": None, "mask_mtime_ns": None, **change}
    return np.frombuffer(json.dumps(h).encode(), np.uint8)


CORRUPT = {
    "garbage": b"\x00not a zip at all" * 10,
    "empty": b"",
    "no-values": _zip({"header.npy": _npy(_header())}),
    "bad-json": _zip({"header.npy": _npy(np.frombuffer(b"{not json", np.uint8)), "values.npy": _npy(np.zeros((4, 4), np.uint8))}),
    "escaping-path": encode_journal(json.loads(_header(image="../../etc/passwd", mask="").tobytes()), np.zeros((4, 4), np.uint8)),
    "box-outside": encode_journal(json.loads(_header(rect=[0, 0, 40, 40]).tobytes()), np.zeros((40, 40), np.uint8)),
    "wrong-values-shape": _zip({"header.npy": _npy(_header()), "values.npy": _npy(np.zeros((3, 4), np.uint8))}),
    "object-values": _zip({"header.npy": _npy(_header()), "values.npy": _npy(np.zeros((4, 4), object))}),
    "lying-npy-size": _zip({"header.npy": _npy(_header(rect=[0, 0, H, W])),
                            "values.npy": _npy(np.zeros((H, W), np.uint8))[:200]}),
    "huge-shape": encode_journal(json.loads(_header(shape=[2**20, 2**20], rect=[0, 0, 1, 1]).tobytes()),
                                 np.zeros((1, 1), np.uint8)),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_a_damaged_journal_is_set_aside_with_a_message(root, sessions, kind, followers):
    good = _valid_journal(root, sessions, followers)
    bad = good.with_name(f"zz-{kind}.npz")
    bad.write_bytes(CORRUPT[kind])
    t = sessions(root)
    entries, problems = followers[t].entries()
    assert [e.file for e in entries] == [good]
    assert len(problems) == 1 and bad.name in problems[0] and "damaged" in problems[0]
    assert not bad.exists() and bad.with_name(bad.name + ".corrupt").exists()
    assert followers[t].entries() == (entries, [])  # said once


def test_a_journal_damaged_after_listing_raises_a_recovery_error(root, sessions, followers):
    good = _valid_journal(root, sessions, followers)
    t = sessions(root, index=1)
    [e] = followers[t].entries()[0]
    good.write_bytes(b"broken")
    with pytest.raises(ValueError, match="damaged"):
        followers[t].preview(e)
    with pytest.raises(RecoveryError, match="damaged"):
        followers[t].restore(e)
    assert t.pair.name == "b" and not t.dirty


def test_journals_are_never_written_outside_the_dataset(root, sessions, tmp_path, followers):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / ".fcnstudio").symlink_to(outside, target_is_directory=True)
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    assert list(outside.rglob("*")) == []
    assert followers[s].error and "link" in followers[s].error


def test_a_write_error_is_reported_not_raised(root, sessions, followers):
    (root / ".fcnstudio").write_text("a file where the folder should be")
    s = sessions(root)
    s.apply(edits.brush, (3, 4), (6, 4), radius=1, value=2)
    followers[s].flush()
    assert followers[s].error and "recovery journal" in followers[s].error
    s.save()  # the editor goes on


def test_a_session_without_ticks_writes_nothing(root, sessions):
    s = sessions(root)
    paint(s)
    s.autosave = True
    s.step(1)
    paint(s)
    s.shutdown()
    assert not (root / ".fcnstudio").exists()


def test_the_session_does_not_know_the_journal():
    code = ("import sys, fcnstudio.core.session; "
            "print(sorted(m for m in sys.modules if m.startswith('fcnstudio.core.recovery')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_follower_built_after_the_dataset_was_opened_journals_it(root):
    s = EditSession(autosave=False)
    s.open(root)
    late = SessionFollower(s)
    try:
        paint(s)
        assert late.flush()
        assert len(journals(root)) == 1
        s.save()
        assert journals(root) == []
    finally:
        s.shutdown()


def test_the_recovery_package_imports_neither_qt_nor_torch():
    code = ("import sys, fcnstudio.core.recovery.follower, fcnstudio.core.recovery.journal, "
            "fcnstudio.core.recovery.journal_file; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    mods = set(out.split())
    assert "fcnstudio" in mods and "PyQt6" not in mods and "torch" not in mods
