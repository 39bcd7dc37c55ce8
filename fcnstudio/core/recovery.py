"""Crash recovery: unsaved edits journalled inside the dataset, offered back after a crash.

While a mask has unsaved edits, :class:`Recovery` (one per
:class:`~fcnstudio.core.session.EditSession`, as ``session.recovery``) keeps
the union box of the pixels changed since the mask was loaded or saved. A
caller's clock -- the window's timer -- calls :meth:`Recovery.tick` every
second or so; at most every :data:`INTERVAL_S` seconds, and only when pixels
changed since the last write, the box's current values are written to
``<dataset>/.fcnstudio/recovery/<pair>-<hash>.npz`` (in a background thread,
through :func:`~fcnstudio.core.io.atomic_write_bytes`, so a kill leaves the
previous journal or the new one). Painting never waits for it.

One journal file per pair, a ``.npz`` with two members: ``header`` (UTF-8
JSON: pair name, image and mask paths relative to the dataset, the box, the
mask's shape and dtype, the time of writing, and the mask file's size and
mtime when it was loaded or last saved) and ``values`` (the box of the mask).
The header sits inside the same file as the pixels, so one atomic rename
commits both.

Saving a pair, discarding its edits, or undoing back to the saved state
removes its journal. After a crash, :meth:`Recovery.entries` lists what is
left; :meth:`Recovery.preview` says what restoring would change (and whether
the mask file changed on disk since); :meth:`Recovery.restore` puts the
pixels back into the session as one undoable, unsaved step, and
:meth:`Recovery.discard` deletes a journal. A damaged journal file is set
aside (renamed ``*.corrupt``) with a message; it never stops the editor.
Nothing is written outside the dataset's ``.fcnstudio/`` folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import time
import weakref
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from .edits import Change, Rect
from .io import MAX_PIXELS, atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from .session import EditSession

__all__ = [
    "INTERVAL_S", "RECOVERY_DIR", "JournalEntry", "Preview", "Recovery", "RecoveryError", "RecoveryJournal",
]

#: Where journals live, relative to the dataset root.
RECOVERY_DIR = Path(".fcnstudio") / "recovery"
#: Least number of seconds between two journal writes while a mask is being edited.
INTERVAL_S = 3.0
FORMAT = 1
SUFFIX = ".npz"
#: Journal files above this size are not read (a box of the largest mask the editor opens, compressed, is far less).
MAX_JOURNAL_BYTES = 2**31
_DTYPES = ("uint8", "uint16")
_HEADER_MAX = 64 * 1024


class RecoveryError(ValueError):
    """A journal that cannot be restored here; the message says why and what to do."""


@dataclass(frozen=True)
class JournalEntry:
    """One journal file: the unsaved edits of one pair, as read from its header."""

    file: Path
    #: the pair's name, as the pair list shows it
    name: str
    #: image and mask paths relative to the dataset root ("" when the pair has none)
    image: str
    mask: str
    rect: Rect
    shape: tuple[int, int]
    dtype: str
    #: ``time.time()`` when the journal was written
    written: float
    #: the mask file's size and mtime (ns) when it was loaded or last saved; None when it did not exist
    mask_size: int | None
    mask_mtime_ns: int | None


@dataclass(frozen=True, eq=False)
class Preview:
    """What restoring an entry would do to the mask as it is on disk now."""

    entry: JournalEntry
    #: pixels whose value restoring changes (compared with the mask file as it is now)
    changed: int
    #: the mask file was modified, created or deleted since the journal's edits began
    disk_changed: bool
    #: the journalled values of ``entry.rect``
    values: np.ndarray
    #: the values now on disk in ``entry.rect`` (zeros when there is no readable mask)
    current: np.ndarray
    #: a few words on anything unusual (mask unreadable, pair gone ...), or ""
    note: str = ""

    @property
    def diff(self) -> np.ndarray:
        """Bool array over ``entry.rect``: the pixels restoring would change."""
        return self.values != self.current


# ---------------------------------------------------------------------- file format


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "pair"
    return stem[:40]


def journal_name(key: str, name: str) -> str:
    """The file name of the journal of the pair keyed ``key`` (its image or mask path, relative)."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{_safe_stem(name)}-{digest}{SUFFIX}"


def encode_journal(header: dict, values: np.ndarray) -> bytes:
    """The bytes of a journal file: a zip (``.npz``) holding ``header`` (JSON) and ``values``.

    Deflate level 1: masks compress well and the write must stay cheap.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        text = json.dumps(header, sort_keys=True).encode("utf-8")
        with zf.open("header.npy", "w") as fh:
            np.lib.format.write_array(fh, np.frombuffer(text, np.uint8), allow_pickle=False)
        with zf.open("values.npy", "w", force_zip64=values.nbytes > 2**30) as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(values), allow_pickle=False)
    return buf.getvalue()


def _read_member(zf: zipfile.ZipFile, name: str, shape: tuple, dtype: np.dtype, limit: int) -> np.ndarray:
    """Read one ``.npy`` member after checking its declared shape and dtype (no allocation on a lie)."""
    with zf.open(name) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{name}: unsupported .npy version {version}")
        if fortran or got_dtype != dtype or got_dtype.hasobject:
            raise ValueError(f"{name}: unexpected layout or type {got_dtype}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            raise ValueError(f"{name}: shape {got_shape} where {shape} was expected")
        count = int(np.prod(got_shape, dtype=np.int64))
        if count > limit:
            raise ValueError(f"{name}: too large ({count} values)")
        data = fh.read(count * dtype.itemsize + 1)
    if len(data) != count * dtype.itemsize:
        raise ValueError(f"{name}: truncated or padded ({len(data)} bytes for {count} values)")
    return np.frombuffer(data, dtype).reshape(got_shape).copy()


def _int_or_none(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0 or null")
    return value


def _relative(value, what: str) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise ValueError(f"{what} must be a path relative to the dataset")
    if value and (value.startswith(("/", "\\")) or ".." in Path(value).parts or re.match(r"^[A-Za-z]:", value)):
        raise ValueError(f"{what} points outside the dataset: {value!r}")
    return value


def _parse_header(data: dict, file: Path) -> JournalEntry:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not an FCN Studio journal of a known format")
    shape = data.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise ValueError("bad mask shape")
    if shape[0] * shape[1] > MAX_PIXELS:
        raise ValueError("mask shape past the size limit")
    r = data.get("rect")
    if not isinstance(r, list) or len(r) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in r):
        raise ValueError("bad box")
    rect = Rect(*r)
    if rect.is_empty or rect.y0 < 0 or rect.x0 < 0 or rect.y1 > shape[0] or rect.x1 > shape[1]:
        raise ValueError("box outside the mask")
    if data.get("dtype") not in _DTYPES:
        raise ValueError("bad mask type")
    name = data.get("name")
    written = data.get("written")
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ValueError("bad pair name")
    if isinstance(written, bool) or not isinstance(written, (int, float)) or not np.isfinite(written):
        raise ValueError("bad time")
    image, mask = _relative(data.get("image"), "image"), _relative(data.get("mask"), "mask")
    if not image and not mask:
        raise ValueError("names no image and no mask")
    return JournalEntry(
        file=file, name=name, image=image, mask=mask, rect=rect, shape=(shape[0], shape[1]), dtype=data["dtype"],
        written=float(written), mask_size=_int_or_none(data.get("mask_size"), "mask_size"),
        mask_mtime_ns=_int_or_none(data.get("mask_mtime_ns"), "mask_mtime_ns"),
    )


def read_entry(file: Path, *, values: bool = False) -> JournalEntry | tuple[JournalEntry, np.ndarray]:
    """Read a journal's header (and, with ``values=True``, its pixels). Raises ``ValueError`` when damaged."""
    file = Path(file)
    try:
        size = file.stat().st_size
        if size > MAX_JOURNAL_BYTES:
            raise ValueError(f"file too large ({size} bytes)")
        with zipfile.ZipFile(file) as zf:
            raw = _read_member(zf, "header.npy", None, np.dtype(np.uint8), _HEADER_MAX)
            entry = _parse_header(json.loads(raw.tobytes().decode("utf-8")), file)
            if not values:
                return entry
            arr = _read_member(zf, "values.npy", entry.rect.shape, np.dtype(entry.dtype), entry.rect.area)
            return entry, arr
    except (OSError, EOFError, KeyError, UnicodeError, zipfile.BadZipFile, zipfile.LargeZipFile,
            RuntimeError, NotImplementedError, MemoryError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ValueError(f"{file.name}: damaged recovery journal ({detail})") from exc


def mask_stamp(path: Path | None) -> tuple[int | None, int | None]:
    """``(size, mtime_ns)`` of a mask file, ``(None, None)`` when there is none."""
    if path is None:
        return None, None
    try:
        st = Path(path).stat()
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


# ---------------------------------------------------------------------- the journal folder


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


# ---------------------------------------------------------------------- the session side


def _put(mask: np.ndarray, rect: Rect, where: np.ndarray, value: int) -> Change | None:
    """An edit tool: write ``value`` into ``mask[rect]`` where ``where`` is True."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(where).view(np.uint8))
    if w == 0 or h == 0:
        return None
    tight = Rect(rect.y0 + y, rect.x0 + x, rect.y0 + y + h, rect.x0 + x + w)
    changed = np.ascontiguousarray(where[y:y + h, x:x + w])
    view = mask[tight.slices]
    old = view.copy()
    np.copyto(view, mask.dtype.type(value), where=changed)
    changed.flags.writeable = False
    old.flags.writeable = False
    return Change(tight, changed, old, int(value))


#: Every Recovery of this process: a journal another live session keeps is not left over from a crash.
_LIVE: "weakref.WeakSet[Recovery]" = weakref.WeakSet()


class Recovery:
    """Journals a session's unsaved edits and restores them after a crash (``session.recovery``).

    It follows the session's events: a loaded pair starts clean, every
    ``mask_changed`` grows the box of unsaved pixels, and a pair that is clean
    again (saved, discarded, undone to its saved state) loses the journal this
    session wrote for it. Writing happens only in :meth:`tick` (or
    :meth:`flush`), never on a brush event.
    """

    def __init__(self, session: EditSession, interval: float = INTERVAL_S) -> None:
        self.session = session
        self.interval = float(interval)
        #: False stops journalling (nothing is written; existing journals stay)
        self.enabled = True
        self.journal: RecoveryJournal | None = None
        self._rect: Rect | None = None
        self._info: dict | None = None  # header fields of the current pair
        self._changes = 0
        self._journaled = 0
        self._last_write = float("-inf")
        self._written: set[str] = set()  # journals that hold this session's own unsaved edits
        _LIVE.add(self)
        session.dataset_changed.connect(self._on_dataset)
        session.pair_changed.connect(self._on_pair)
        session.mask_changed.connect(self._on_mask)
        session.status_changed.connect(self._on_status)

    # -- following the session

    def _on_dataset(self) -> None:
        self._flush_current()  # the previous dataset's pair, if it still had unsaved edits
        if self.journal is not None:
            self.journal.close()
        ds = self.session.dataset
        self.journal = RecoveryJournal(ds.root) if ds is not None else None
        self._written.clear()
        self._info, self._rect = None, None

    def _on_pair(self) -> None:
        s = self.session
        pair = s.pair
        self._rect = None
        self._changes = self._journaled = 0
        if pair is None or s.mask is None or s.read_only is not None:
            self._info = None
            return
        ds = s.dataset
        mask_path = pair.mask if pair.mask is not None else s.target_path(pair)
        image, mask = ds.relative(pair.image), ds.relative(mask_path)
        key = image or mask
        self._info = {"name": pair.name, "image": image, "mask": mask, "file": journal_name(key, pair.name),
                      "mask_path": pair.mask}
        self._stamp()

    def _stamp(self) -> None:
        size, mtime = mask_stamp(self._info["mask_path"])
        self._info["mask_size"], self._info["mask_mtime_ns"] = size, mtime

    def _on_mask(self, rect: Rect | None) -> None:
        if self._info is None or self.session.mask is None:
            return
        if rect is None:
            h, w = self.session.mask.shape
            rect = Rect(0, 0, h, w)
        self._rect = rect if self._rect is None else self._rect.union(rect)
        self._changes += 1

    def _on_status(self) -> None:
        if self._info is None or self.session.dirty:
            return
        self._rect = None
        self._changes = self._journaled = 0
        self._stamp()  # after a save, the file on disk is the new baseline
        name = self._info["file"]
        if name in self._written and self.journal is not None:
            self._written.discard(name)
            self.journal.remove(name)

    # -- writing

    @property
    def pending(self) -> bool:
        """The current pair has unsaved changes that are not journalled yet."""
        return self._rect is not None and self._changes != self._journaled

    def tick(self, now: float | None = None, *, force: bool = False) -> bool:
        """Journal the current pair's unsaved edits if due; True when a write was started.

        Due: pixels changed since the last write, and ``interval`` seconds
        have passed since it (``force`` skips the wait).
        """
        if not self.enabled or self.journal is None or not self.pending or not self.session.dirty:
            return False
        now = time.monotonic() if now is None else now
        if not force and now - self._last_write < self.interval:
            return False
        return self._write(now)

    def _write(self, now: float) -> bool:
        mask, info, rect = self.session.mask, self._info, self._rect
        if mask is None or info is None or rect is None or self.journal is None:
            return False
        header = {
            "format": FORMAT, "app": "fcnstudio", "name": info["name"], "image": info["image"],
            "mask": info["mask"], "rect": [rect.y0, rect.x0, rect.y1, rect.x1], "shape": list(mask.shape),
            "dtype": mask.dtype.name, "written": time.time(), "mask_size": info["mask_size"],
            "mask_mtime_ns": info["mask_mtime_ns"],
        }
        self.journal.write(info["file"], header, mask[rect.slices].copy())
        self._written.add(info["file"])
        _LIVE.add(self)
        self._journaled, self._last_write = self._changes, now
        return True

    def flush(self) -> bool:
        """Journal the current pair now if it has unjournalled edits, and wait for the file."""
        wrote = self.tick(force=True)
        if self.journal is not None:
            self.journal.wait()
        return wrote

    def _flush_current(self) -> None:
        if self.enabled and self.pending and self.journal is not None:
            self._write(time.monotonic())
            self.journal.wait()

    @property
    def error(self) -> str | None:
        """Why the last journal write failed, or None."""
        return self.journal.error if self.journal is not None else None

    def close(self) -> None:
        """Finish pending writes and stop the writer thread (journalling resumes on the next tick).

        What this session journalled is from then on offered to other sessions, as after a crash.
        """
        _LIVE.discard(self)
        if self.journal is not None:
            self.journal.close()

    # -- after a crash

    def entries(self) -> tuple[list[JournalEntry], list[str]]:
        """Journals left from an earlier run, and messages about damaged ones.

        Journals that a live session of this process keeps (this one's own, or
        another window's on the same dataset) are not left over and not listed.
        """
        if self.journal is None:
            return [], []
        found, problems = self.journal.entries()
        live = {r.journal.folder / name for r in list(_LIVE) if r.journal is not None for name in r._written}
        return [e for e in found if e.file not in live], problems

    def pair_index(self, entry: JournalEntry) -> int | None:
        """The index of ``entry``'s pair in the open dataset, None when it is not there."""
        ds = self.session.dataset
        if ds is None:
            return None
        for i, pair in enumerate(ds.pairs):
            if entry.image and ds.relative(pair.image) == entry.image:
                return i
        for i, pair in enumerate(ds.pairs):
            if not entry.image and entry.mask in (ds.relative(pair.mask), ds.relative(ds.mask_path_for(pair))):
                return i
        return None

    def preview(self, entry: JournalEntry) -> Preview:
        """What restoring ``entry`` would change in the mask as it is on disk now (raises ``ValueError`` if damaged)."""
        from .io import ImageReadError, read_mask_file

        values = self.journal.values(entry)
        ds = self.session.dataset
        index = self.pair_index(entry)
        note = ""
        current = np.zeros_like(values)
        mask_path = None
        if index is None:
            note = "This image is no longer in the dataset."
        else:
            pair = ds.pairs[index]
            mask_path = pair.mask
            if pair.mask is not None:
                try:
                    arr = read_mask_file(pair.mask).array
                    if arr.ndim == 2 and arr.shape == entry.shape:
                        current = arr[entry.rect.slices].astype(values.dtype, copy=False)
                    else:
                        note = "The mask on disk no longer has the journal's size."
                except ImageReadError as exc:
                    note = f"The mask on disk cannot be read ({exc})."
        size, mtime = mask_stamp(mask_path)
        disk_changed = (size, mtime) != (entry.mask_size, entry.mask_mtime_ns)
        return Preview(entry, int(np.count_nonzero(values != current)), disk_changed, values, current, note)

    def restore(self, entry: JournalEntry, ask: Callable[[str, bool], str] | None = None) -> int:
        """Put ``entry``'s pixels into the session as one unsaved, undoable step; the pixels changed.

        Goes to the entry's pair first (``ask`` resolves the current pair's
        unsaved edits, as for :meth:`EditSession.go_to`; 0 when the user
        cancelled). The journal stays until the pair is saved or its edits are
        dropped. Raises :class:`RecoveryError` when the pair is gone, no longer
        editable or of another size, or the journal is damaged.
        """
        s = self.session
        index = self.pair_index(entry)
        if index is None:
            raise RecoveryError(f"{entry.name}: the image is no longer in this dataset; discard its recovered edits.")
        try:
            values = self.journal.values(entry)
        except ValueError as exc:
            raise RecoveryError(str(exc)) from exc
        if not s.go_to(index, ask):
            return 0
        if not s.editable:
            why = s.read_only.message if s.read_only is not None else "the mask cannot be opened"
            raise RecoveryError(f"{entry.name}: cannot restore into this mask: {why}")
        if s.mask.shape != entry.shape or s.mask.dtype.name != entry.dtype:
            raise RecoveryError(
                f"{entry.name}: the mask is now {s.mask.shape[1]}x{s.mask.shape[0]} {s.mask.dtype.name}, "
                f"the journal was {entry.shape[1]}x{entry.shape[0]} {entry.dtype}; discard its recovered edits."
            )
        region = s.mask[entry.rect.slices]
        diff = values != region
        count = int(np.count_nonzero(diff))
        if count == 0:  # the edits reached the disk before the crash
            self.discard(entry)
            return 0
        s.begin_stroke()
        try:
            for v in np.unique(values[diff]):
                s.apply(_put, entry.rect, diff & (values == v), int(v))
        finally:
            s.end_stroke()
        # The restored state is journalled at once (against the mask file as it is now); a journal
        # kept under another name (the dataset's layout changed) is replaced by it.
        if self.enabled and self._info is not None:
            self._write(time.monotonic())
            self.journal.wait(self._info["file"])
            if self._info["file"] != entry.file.name:
                self.journal.remove(entry.file.name)
        return count

    def discard(self, entry: JournalEntry) -> None:
        """Delete ``entry``'s journal (its edits are given up)."""
        self._written.discard(entry.file.name)
        if self.journal is not None:
            self.journal.remove(entry.file.name)
        else:
            try:
                entry.file.unlink()
            except OSError:
                pass
