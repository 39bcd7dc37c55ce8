"""The session follower: what observes an editing session, feeds its unsaved edits to the journal, and restores them.

While a mask has unsaved edits, a :class:`SessionFollower` keeps the union
box of the pixels changed since the mask was loaded or saved. A caller's
clock -- the window's timer -- calls :meth:`SessionFollower.tick` every
second or so; at most every :data:`INTERVAL_S` seconds, and only when pixels
changed since the last write, the box's current values are written to the
:class:`~fcnstudio.core.recovery.journal.RecoveryJournal` (in a background
thread). Painting never waits for it.

Saving a pair, discarding its edits, or undoing back to the saved state
removes its journal. After a crash, :meth:`SessionFollower.entries` lists
what is left; :meth:`SessionFollower.preview` says what restoring would
change (and whether the mask file changed on disk since);
:meth:`SessionFollower.restore` puts the pixels back into the session as one
undoable, unsaved step, and :meth:`SessionFollower.discard` deletes a
journal.

The session does not know about any of this: whoever builds a session (the
window) builds a follower next to it; the follower only uses the session's
events and its public editing API (:class:`FollowedSession`).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .. import edits
from ..dataset import Dataset, Pair
from ..edits import Change, Rect
from ..io import ImageReadError, read_mask_file
from ..labels import ReadOnly
from ..session_types import Event
from .journal import RecoveryJournal
from .journal_file import FORMAT, JournalEntry, journal_name, mask_stamp

__all__ = ["INTERVAL_S", "FollowedSession", "RecoveryError", "RecoveryPreview", "SessionFollower"]

#: Least number of seconds between two journal writes while a mask is being edited.
INTERVAL_S = 3.0


class RecoveryError(ValueError):
    """A journal that cannot be restored here; the message says why and what to do."""



@dataclass(frozen=True, eq=False)
class RecoveryPreview:
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



class FollowedSession(Protocol):
    """What the follower uses of an editing session (:class:`~fcnstudio.core.session.EditSession` is one)."""

    dataset_changed: Event
    pair_changed: Event
    mask_changed: Event
    status_changed: Event
    closed: Event
    dataset: Dataset | None
    pair: Pair | None
    mask: np.ndarray | None
    read_only: ReadOnly | None

    @property
    def dirty(self) -> bool: ...
    @property
    def editable(self) -> bool: ...
    def target_path(self, pair: Pair | None = None) -> Path: ...
    def go_to(self, index: int, ask: Callable[[str, bool], str] | None = None) -> bool: ...
    def begin_stroke(self) -> bool: ...
    def apply(self, tool: Callable[..., Change | None], *args, **kwargs) -> Rect | None: ...
    def end_stroke(self) -> bool: ...


#: Every follower of this process: a journal another live session keeps is not left over from a crash.
_LIVE: "weakref.WeakSet[SessionFollower]" = weakref.WeakSet()


class SessionFollower:
    """Journals a session's unsaved edits and restores them after a crash.

    It follows the session's events: a loaded pair starts clean, every
    ``mask_changed`` grows the box of unsaved pixels, and a pair that is clean
    again (saved, discarded, undone to its saved state) loses the journal this
    session wrote for it. Writing happens only in :meth:`tick` (or
    :meth:`flush`), never on a brush event.
    """

    def __init__(self, session: FollowedSession, interval: float = INTERVAL_S) -> None:
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
        session.closed.connect(self.close)
        if session.dataset is not None:  # built next to a session that already has a dataset open
            self._on_dataset()
            self._on_pair()

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

    def preview(self, entry: JournalEntry) -> RecoveryPreview:
        """What restoring ``entry`` would change in the mask as it is on disk now (raises ``ValueError`` if damaged)."""
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
        return RecoveryPreview(entry, int(np.count_nonzero(values != current)), disk_changed, values, current, note)

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
                s.apply(edits.put, entry.rect, diff & (values == v), int(v))
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
