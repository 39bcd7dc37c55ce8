"""Crash recovery in the window: the journal timer, the restore dialog, and a real SIGKILL of the app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import drag
from PyQt6.QtWidgets import QLabel

from fcnstudio.core import edits
from fcnstudio.core.io import read_mask
from fcnstudio.core.recovery.follower import SessionFollower
from fcnstudio.core.recovery.journal import RECOVERY_DIR
from fcnstudio.core.session import EditSession
from fcnstudio.gui import recovery_dialog
from fcnstudio.gui.recovery_dialog import DISCARD, RESTORE, RecoveryDialog

REPO = Path(__file__).resolve().parents[2]


def journals(root):
    folder = Path(root) / RECOVERY_DIR
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def leave_journal(root, index=0, stroke=((3, 3), (30, 12)), value=2):
    """Edit pair ``index`` in a plain session, journal it and drop the session: what a crash leaves."""
    s = EditSession(autosave=False)
    follower = SessionFollower(s)
    s.open(root, index)
    s.apply(edits.brush, *stroke, radius=2.5, value=value)
    follower.flush()
    expected = s.mask.copy()
    s.shutdown()
    return expected


@pytest.fixture
def choices(monkeypatch):
    """Replace the modal dialog: record what it would show, answer with ``answer[0]``."""
    shown = []
    answer = [RESTORE]

    def choose(parent, items, thumbs):
        shown.append((items, thumbs))
        if answer[0] is None:
            return None
        return [(RecoveryDialog._entry(i), answer[0]) for i in items]

    monkeypatch.setattr(recovery_dialog, "choose", choose)
    return shown, answer


def test_the_timer_journals_strokes_and_saving_removes_the_journal(window, dataset, qtbot):
    drag(window.canvas, [(5, 5), (25, 10)])
    assert window.session.dirty
    qtbot.waitUntil(lambda: len(journals(dataset)) == 1, timeout=5000)
    window.save()
    assert journals(dataset) == []


def test_opening_a_dataset_offers_and_restores_the_journal(make_window, dataset, qtbot, choices):
    shown, _ = choices
    expected = leave_journal(dataset)
    w = make_window(dataset)
    qtbot.waitUntil(lambda: w.session.dirty)
    [(items, thumbs)] = shown
    [preview] = items
    assert preview.entry.name == "a" and preview.changed > 0 and not preview.disk_changed
    assert thumbs[preview.entry].width() > 0
    np.testing.assert_array_equal(w.session.mask, expected)
    assert w.windowTitle().endswith("*") and "Restored" in w.banner.text
    w.undo()
    assert not w.session.dirty
    w.redo()
    w.save()
    np.testing.assert_array_equal(read_mask(dataset / "masks" / "a.png"), expected)
    assert journals(dataset) == []
    assert "Restored" not in w.banner.text  # saved: "Save to keep them" is out of date


def test_declining_deletes_the_journal_and_later_keeps_it(make_window, dataset, qtbot, choices):
    shown, answer = choices
    leave_journal(dataset)
    answer[0] = None  # Decide later
    w = make_window(dataset)
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert len(journals(dataset)) == 1 and not w.session.dirty
    answer[0] = DISCARD
    w.open_dataset(dataset)
    qtbot.waitUntil(lambda: len(shown) == 2)
    assert journals(dataset) == [] and not w.session.dirty


def test_a_corrupt_journal_is_reported_in_the_status_bar(make_window, dataset, qtbot, choices):
    shown, _ = choices
    folder = dataset / RECOVERY_DIR
    folder.mkdir(parents=True)
    (folder / "a-0123456789ab.npz").write_bytes(b"PK\x03\x04 truncated")
    w = make_window(dataset)
    qtbot.waitUntil(lambda: "damaged" in w.statusBar().currentMessage())
    assert shown == [] and not w.session.dirty


def test_the_dialog_shows_each_pair_and_its_choice(qtbot, dataset):
    leave_journal(dataset, 0)
    leave_journal(dataset, 1, stroke=((10, 10), (12, 30)), value=1)
    s = EditSession()
    follower = SessionFollower(s)
    s.open(dataset)
    try:
        entries, _ = follower.entries()
        previews = [follower.preview(e) for e in entries]
        os.utime(dataset / "masks" / "b.png", ns=(1, 1))  # b changed on disk since
        previews[1] = follower.preview(entries[1])
        damaged = (entries[0], "a-x.npz: damaged recovery journal")
        thumbs = {p.entry: recovery_dialog.thumbnail(p, None, s.project.colors) for p in previews}
        dialog = RecoveryDialog([*previews, damaged], thumbs)
        qtbot.addWidget(dialog)
        dialog.show()
        texts = [lab.text() for lab in dialog.findChildren(QLabel, "recovery_text")]
        assert "<b>a</b>" in texts[0] and "pixels to restore" in texts[0] and "changed on disk" not in texts[0]
        assert "<b>b</b>" in texts[1] and "changed on disk" in texts[1]
        assert "Cannot be restored" in texts[2]
        assert [c for _, c in dialog.choices()] == [RESTORE, RESTORE, DISCARD]
        dialog.set_all(DISCARD)
        assert [c for _, c in dialog.choices()] == [DISCARD] * 3
        dialog.set_all(RESTORE)
        assert [c for _, c in dialog.choices()] == [RESTORE, RESTORE, DISCARD]
        dialog.later_button.click()
        assert dialog.result() == 0
    finally:
        s.shutdown()


def test_a_second_window_on_the_same_dataset_is_not_offered_the_first_ones_journal(make_window, dataset, qtbot, choices):
    shown, _ = choices
    first = make_window(dataset)
    drag(first.canvas, [(5, 5), (25, 10)])
    qtbot.waitUntil(lambda: len(journals(dataset)) == 1, timeout=5000)
    second = make_window(dataset)
    qtbot.waitUntil(lambda: second.recovery.offers == 1)
    assert shown == []


#: The app as ``fcnstudio gui`` starts it, plus one brush stroke painted through its session once it is shown.
CHILD = """
import json, sys
from PyQt6.QtCore import QTimer
from fcnstudio.core import edits
from fcnstudio.gui.app import Settings, create_app
from fcnstudio.gui.main_window import MainWindow

stroke = json.loads(sys.argv[2])
app = create_app(sys.argv[:1])
window = MainWindow(settings=Settings())
assert window.open_dataset(sys.argv[1])
window.show()

def paint():
    s = window.session
    points = [tuple(p) for p in stroke["points"]]
    assert s.begin_stroke()
    for p0, p1 in zip(points, points[1:]):
        s.apply(edits.brush, p0, p1, radius=stroke["radius"], value=stroke["value"])
    s.end_stroke()
    print("STROKE_DONE", s.pair.name, flush=True)

QTimer.singleShot(0, paint)
app.exec()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_app_leaves_edits_that_the_next_window_restores(make_window, dataset, qtbot, choices, tmp_path):
    stroke = {"points": [[4, 4], [40, 20], [50, 30]], "radius": 3, "value": 2}
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)  # this checkout's fcnstudio
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FCNSTUDIO_SETTINGS=str(tmp_path / "child.ini"),
               PYTHONUNBUFFERED="1", PYTHONPATH=path)
    child = subprocess.Popen([sys.executable, str(script), str(dataset), json.dumps(stroke)], env=env, cwd=str(REPO),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # the journal's timer writes it a few seconds after the stroke; a rename is atomic, so it is complete
        qtbot.waitUntil(lambda: bool(journals(dataset)) or child.poll() is not None, timeout=90000)
        assert journals(dataset), f"no journal appeared (exit {child.poll()})"
    finally:
        child.send_signal(signal.SIGKILL)
        out = child.communicate(timeout=30)[0]
    assert child.returncode == -signal.SIGKILL
    assert "STROKE_DONE a" in out, out
    expected = read_mask(dataset / "masks" / "a.png")
    for p0, p1 in zip(stroke["points"], stroke["points"][1:]):
        edits.brush(expected, p0, p1, radius=stroke["radius"], value=stroke["value"])
    assert not np.array_equal(expected, read_mask(dataset / "masks" / "a.png"))  # nothing was saved

    w = make_window(dataset)
    qtbot.waitUntil(lambda: w.session.dirty, timeout=10000)
    assert w.session.pair.name == "a"
    np.testing.assert_array_equal(w.session.mask, expected)
    w.save()
    assert journals(dataset) == []
    np.testing.assert_array_equal(read_mask(dataset / "masks" / "a.png"), expected)
