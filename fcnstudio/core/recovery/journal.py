"""The journal: a dataset's recovery folder, written in a background thread, listed after a crash.

Journals live in ``<dataset>/.fcnstudio/recovery/`` (see
:mod:`~fcnstudio.core.recovery.journal_file` for one file's format). Every
write goes through :func:`~fcnstudio.core.io.atomic_write_bytes`, so a kill
leaves the previous journal or the new one. Nothing is written outside the
dataset's ``.fcnstudio/`` folder. A damaged journal file is set aside
(renamed ``*.corrupt``) with a message; it never stops the editor.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes
from .journal_file import SUFFIX, JournalEntry, encode_journal, read_entry

__all__ = ["RECOVERY_DIR", "RecoveryJournal"]

#: Where journals live, relative to the dataset root.
RECOVERY_DIR = Path(".fcnstudio") / "recovery"


class RecoveryJournal:
    """The journal files of one dataset: write (in a background thread), list, read, remove.

    Writes of one file are serialised; :meth:`remove` waits for a pending
    write of the same file first, so a removed journal never comes back.
    :meth:`close` joins the thread (the journal stays usable: the thread is
    started again by the next write).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.folder = self.root / RECOVERY_DIR
        self._executor: ThreadPoolExecutor | None = None
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()
        #: the last write that failed (disk full, permissions ...), as a message; None after a success
        self.error: str | None = None

    # -- writing

    def _checked_folder(self) -> Path:
        """The recovery folder, created, after making sure it resolves inside the dataset's .fcnstudio/."""
        base = self.root / ".fcnstudio"
        for p in (base, self.folder):
            if p.is_symlink():
                raise OSError(f"{self._rel(p)} is a symbolic link; journals are only written inside the dataset")
        self.folder.mkdir(parents=True, exist_ok=True)
        real_root = self.root.resolve()
        if self.folder.resolve() != real_root / RECOVERY_DIR:
            raise OSError(f"{self._rel(self.folder)} resolves outside the dataset; no journal was written")
        return self.folder

    def _rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def write(self, name: str, header: dict, values: np.ndarray, *, wait: bool = False) -> Future:
        """Write journal ``name`` (see :func:`journal_name`) in the background; ``values`` is not copied."""
        with self._lock:
            old = self._pending.get(name)
            if old is not None:
                old.cancel()  # a newer state replaces a write that has not started
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fcnstudio-journal")
            future = self._executor.submit(self._write_now, name, header, values)
            self._pending[name] = future
        if wait:
            future.result()
        return future

    def _write_now(self, name: str, header: dict, values: np.ndarray) -> bool:
        try:
            folder = self._checked_folder()
            atomic_write_bytes(folder / name, encode_journal(header, values))
        except (OSError, ValueError, MemoryError) as exc:
            self.error = f"Could not write the recovery journal: {getattr(exc, 'strerror', None) or exc}"
            return False
        self.error = None
        return True

    def wait(self, name: str | None = None) -> None:
        """Wait for the pending write of ``name`` (every pending write when None)."""
        with self._lock:
            futures = [f for n, f in self._pending.items() if name is None or n == name]
        for f in futures:
            if not f.cancelled():
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - recorded in self.error by the writer
                    pass
        with self._lock:
            for n, f in list(self._pending.items()):
                if f.done():
                    del self._pending[n]

    def remove(self, name: str) -> bool:
        """Delete journal ``name`` once its pending write is done; True when a file was removed."""
        with self._lock:
            future = self._pending.pop(name, None)
        if future is not None:
            future.cancel()
            if not future.cancelled():
                try:
                    future.result()
                except Exception:  # noqa: BLE001
                    pass
        try:
            (self.folder / name).unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            self.error = f"Could not remove the recovery journal {name}: {exc.strerror or exc}"
            return False

    def close(self) -> None:
        """Finish pending writes and stop the thread."""
        if self._executor is not None:
            self.wait()
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- reading

    def entries(self) -> tuple[list[JournalEntry], list[str]]:
        """The readable journals (oldest first) and a message per damaged one (which is renamed ``*.corrupt``)."""
        self.wait()
        found: list[JournalEntry] = []
        problems: list[str] = []
        try:
            files = sorted(p for p in self.folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))
        except OSError:
            return [], []
        self._sweep_temp_files()
        for file in files:
            try:
                entry, _values = read_entry(file, values=True)  # the pixels are checked too, then dropped
                found.append(entry)
            except ValueError as exc:
                problems.append(f"{exc}; it was set aside as {file.name}.corrupt and ignored.")
                try:
                    os.replace(file, file.with_name(file.name + ".corrupt"))
                except OSError:
                    pass
        found.sort(key=lambda e: e.written)
        return found, problems

    def _sweep_temp_files(self, age_s: float = 300.0) -> None:
        """Temp files left by a write that was killed (older than ``age_s``) are deleted."""
        now = time.time()
        try:
            for p in self.folder.glob(".*.tmp"):
                try:
                    if now - p.stat().st_mtime > age_s:
                        p.unlink()
                except OSError:
                    pass
        except OSError:
            pass

    def values(self, entry: JournalEntry) -> np.ndarray:
        """The journalled values of ``entry.rect`` (raises ``ValueError`` when the file is damaged)."""
        _, values = read_entry(entry.file, values=True)
        return values
