"""Fixtures for the window tests: a tiny dataset in tmp_path, isolated settings, a shown window.

Every test runs offscreen (tests/conftest.py) with its own settings file, so
the user's FCN Studio settings are never read or written.
"""

from __future__ import annotations

import pytest
from gui_helpers import make_dataset
from leaks import left_running, track_qthreads
from PyQt6.QtCore import QStandardPaths
from PyQt6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    QStandardPaths.setTestModeEnabled(True)
    path = tmp_path / "settings" / "fcnstudio.ini"
    path.parent.mkdir()
    monkeypatch.setenv("FCNSTUDIO_SETTINGS", str(path))
    return path


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal message box would hang a headless run: answer them, and record what was asked.

    Tests that need another answer monkeypatch ``QMessageBox.question`` again.
    The default answer (Discard) also lets pytest-qt close a window with edits.
    """
    asked = []

    def answer(result):
        def box(*args, **kwargs):
            asked.append(args[2] if len(args) > 2 else kwargs)
            return result
        return box

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "information", answer(QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "critical", answer(QMessageBox.StandardButton.Ok))
    return asked


@pytest.fixture(autouse=True)
def nothing_left_behind(qapp):
    """After each test (pytest-qt has closed its widgets): no thread, job or QThread running, no window open."""
    track_qthreads()
    yield
    qapp.processEvents()
    threads = left_running()
    assert not threads, f"left running: {threads}"
    visible = [w for w in qapp.topLevelWidgets() if w.isVisible()]
    assert not visible, f"windows left open: {visible}"


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data")


@pytest.fixture
def make_window(qtbot):
    from fcnstudio.gui.main_window import MainWindow

    def make(path=None):
        w = MainWindow()
        qtbot.addWidget(w)
        w.resize(1000, 700)
        if path is not None:
            w.open_dataset(path)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


@pytest.fixture
def window(make_window, dataset):
    return make_window(dataset)
