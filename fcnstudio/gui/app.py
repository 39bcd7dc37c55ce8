"""The QApplication, the settings store, and the last-resort error handler.

Settings live in QSettings (organisation and application "FCN Studio"). Tests
and benchmarks point :data:`SETTINGS_ENV` at an ini file of their own so they
never touch the user's settings.
"""

from __future__ import annotations

import os
import sys
import traceback

from PyQt6.QtCore import QByteArray, QSettings
from PyQt6.QtWidgets import QApplication

ORGANIZATION = APPLICATION = "FCN Studio"
#: Path of an ini file to use instead of the user's settings (tests, benchmarks).
SETTINGS_ENV = "FCNSTUDIO_SETTINGS"
MAX_RECENT = 10


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), with FCN Studio's names set."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    return app


def install_excepthook(report=None) -> None:
    """Print unexpected errors (and pass them to ``report(text)``) instead of aborting the app.

    PyQt6 aborts the process on an exception raised in a slot unless
    ``sys.excepthook`` is replaced; a mask editor must not lose edits that way.
    """

    def hook(exc_type, exc, tb):
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(text)
        if report is not None:
            try:
                report(f"Unexpected error: {exc_type.__name__}: {exc}")
            except Exception:  # the reporter itself failed: nothing more to do
                pass

    sys.excepthook = hook


def observe(widget, connections) -> None:
    """Connect session events to a widget's callbacks, and disconnect them when it is destroyed.

    ``connections`` is a list of ``(event, callback)``. The session outlives
    its widgets; a deleted widget must not be called back.
    """
    connections = list(connections)
    for event, callback in connections:
        event.connect(callback)

    def detach(*_):
        for event, callback in connections:
            event.disconnect(callback)

    widget.destroyed.connect(detach)


class Settings:
    """Typed access to what FCN Studio remembers between runs."""

    def __init__(self, store: QSettings | None = None) -> None:
        if store is None:
            path = os.environ.get(SETTINGS_ENV)
            if path:
                store = QSettings(path, QSettings.Format.IniFormat)
            else:
                store = QSettings(ORGANIZATION, APPLICATION)
        self.store = store

    def _get(self, key: str, default, kind):
        value = self.store.value(key, default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    return value.lower() in ("1", "true", "yes")
                return bool(value)
            return kind(value)
        except (TypeError, ValueError):
            return default

    # --- editor
    @property
    def brush_size(self) -> int:
        return max(1, min(500, self._get("editor/brush_size", 15, int)))

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self.store.setValue("editor/brush_size", int(value))

    @property
    def opacity(self) -> float:
        return max(0.0, min(1.0, self._get("editor/opacity", 0.5, float)))

    @opacity.setter
    def opacity(self, value: float) -> None:
        self.store.setValue("editor/opacity", float(value))

    @property
    def autosave(self) -> bool:
        return self._get("editor/autosave", True, bool)

    @autosave.setter
    def autosave(self, value: bool) -> None:
        self.store.setValue("editor/autosave", bool(value))

    # --- datasets
    @property
    def last_dataset(self) -> str:
        return self._get("datasets/last", "", str)

    @property
    def recent(self) -> list[str]:
        value = self.store.value("datasets/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v][:MAX_RECENT]

    def add_recent(self, path: str) -> None:
        path = str(path)
        items = [path] + [p for p in self.recent if p != path]
        self.store.setValue("datasets/recent", items[:MAX_RECENT])
        self.store.setValue("datasets/last", path)

    def last_index(self, path: str) -> int:
        return self._get(f"datasets/index/{_key(path)}", 0, int)

    def set_last_index(self, path: str, index: int) -> None:
        self.store.setValue(f"datasets/index/{_key(path)}", int(index))

    # --- window
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()


def _key(path: str) -> str:
    """A settings key for a path (QSettings treats '/' as a group separator)."""
    import hashlib

    return hashlib.sha1(str(path).encode("utf-8", "surrogatepass")).hexdigest()[:16]
