# Over 400 lines: one observable state machine (load, stroke/undo, save) over shared fields; its seams are split out.
"""The editing session: what the mask editor works on, without Qt.

One :class:`EditSession` holds the open dataset and project, the current pair
(its image and its class-index mask), one undo :class:`~fcnstudio.core.history.History`
per image (all sharing one :class:`~fcnstudio.core.history.HistoryBudget`),
the unsaved-edit state, and the checker's findings. Widgets observe it through
plain callbacks (:class:`Event`) and send it intents (``go_to``, ``apply``,
``undo``, ``save``, ``rename_class`` ...). A widget can be deleted and rebuilt
without losing an edit: nothing here refers to one.

Masks the editor cannot paint safely (colour masks, float masks, 0/255 masks,
values past the classes, JPEG masks, a size that differs from the image) are
opened read-only: ``read_only`` says why and names the checker finding whose
fix makes them editable; ``mask`` then holds a best-effort class-index view
for display, and ``stored`` the values as they are on disk.

Parts with their own module: :mod:`~fcnstudio.core.class_editing` (the
project after a class edit), :mod:`~fcnstudio.core.read_ahead` (neighbouring
pairs read in the background), :mod:`~fcnstudio.core.findings_index` (the
error marks of the pair list). Crash recovery is not part of the session: a
:class:`~fcnstudio.core.recovery.follower.SessionFollower` observes it. What mask a pair opens with
(editable, or read-only and why) is :mod:`~fcnstudio.core.pair_mask`'s call.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .class_editing import with_class_added, with_class_recolored, with_class_renamed
from .dataset import Dataset, Pair, open_dataset
from .edits import Change, Rect
from .checker.findings import Finding
from .findings_index import error_counts
from .history import History, HistoryBudget
from .io import write_mask
from .labels import ReadOnly, infer_project, load_project
from .pair_files import histogram, read_pair, write_protected
from .pair_mask import opened_mask
from .project import PROJECT_FILE, Project, ProjectError, save_project
from .read_ahead import PREFETCH_MAX_BYTES, ReadAhead
from .session_types import ASK_CANCEL, ASK_DISCARD, ASK_SAVE, Event, PairStatus, SessionError

__all__ = ["ASK_CANCEL", "ASK_DISCARD", "ASK_SAVE", "EditSession", "Event", "PairStatus", "ReadOnly", "SessionError"]


class _Track:
    """Mirror of one History's undo stack as step ids, to know when it is back at the saved state."""

    __slots__ = ("history", "done", "undone", "saved")

    def __init__(self, history: History) -> None:
        self.history = history
        self.done: list[int] = []
        self.undone: list[int] = []
        self.saved: int | None = None

    @property
    def top(self) -> int | None:
        return self.done[-1] if self.done else None

    @property
    def dirty(self) -> bool:
        return self.top != self.saved


class EditSession:
    """The dataset, project, current pair and undo histories the editor works on.

    Events (plain callbacks, called on the thread that changed the session):
    ``dataset_changed()`` a dataset was opened; ``pair_changed()`` another pair
    is current (or was reloaded); ``mask_changed(rect)`` pixels of the current
    mask changed (``rect`` a :class:`Rect`, or None for all of it);
    ``status_changed()`` unsaved-edit flags, saved paths or findings changed;
    ``project_changed()`` classes were added, renamed or recoloured;
    ``closed()`` :meth:`shutdown` was called.
    """

    def __init__(self, *, budget: HistoryBudget | None = None, autosave: bool = True, prefetch: bool = True) -> None:
        self.budget = budget if budget is not None else HistoryBudget()
        self.autosave = autosave
        #: read the previous and next pairs in a background thread (see :meth:`shutdown`)
        self.prefetch = prefetch
        self.read_ahead = ReadAhead()
        self.dataset: Dataset | None = None
        self.project: Project | None = None
        #: classes were edited but fcnstudio.json could not be written yet
        self.project_dirty = False
        #: why fcnstudio.json was not used (settings were inferred instead), or None
        self.project_error: str | None = None
        self.index = -1
        self.image: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self.stored: np.ndarray | None = None
        self.read_only: ReadOnly | None = None
        self.load_errors: tuple[str, ...] = ()
        self.mask_is_new = False
        self.findings: tuple[Finding, ...] = ()
        self._tracks: dict[str, _Track] = {}
        self._stroke_open = False
        self._stroke_changed = False
        self._error_counts: dict[int, int] = {}
        self._unreadable: set[int] = set()
        #: bumped at every change of the mask's pixels; keys the cached histogram
        self._version = 0
        self._hist: tuple[int, np.ndarray] | None = None

        self.dataset_changed = Event()
        self.pair_changed = Event()
        self.mask_changed = Event()
        self.status_changed = Event()
        self.project_changed = Event()
        #: :meth:`shutdown` was called (observers finish their own background work)
        self.closed = Event()

    # ------------------------------------------------------------------ state

    @property
    def pair(self) -> Pair | None:
        if self.dataset is None or not 0 <= self.index < len(self.dataset.pairs):
            return None
        return self.dataset.pairs[self.index]

    @property
    def editable(self) -> bool:
        return self.mask is not None and self.read_only is None

    @property
    def dirty(self) -> bool:
        """The current mask has edits that are not saved."""
        track = self._track(create=False)
        return self._stroke_changed or (track is not None and track.dirty)

    @property
    def can_undo(self) -> bool:
        track = self._track(create=False)
        return self.editable and track is not None and track.history.can_undo

    @property
    def can_redo(self) -> bool:
        track = self._track(create=False)
        return self.editable and track is not None and track.history.can_redo

    @property
    def shape(self) -> tuple[int, int] | None:
        """``(height, width)`` of what is shown: the image, else the mask."""
        if self.image is not None:
            return self.image.shape[:2]
        if self.mask is not None:
            return self.mask.shape
        return None

    def pair_status(self, index: int) -> PairStatus:
        pair = self.dataset.pairs[index]
        return PairStatus(
            unsaved=index == self.index and self.dirty,
            errors=self._error_counts.get(index, 0),
            no_mask=pair.mask is None,
            unreadable=index in self._unreadable,
        )

    def class_name(self, value: int) -> str:
        project = self.project
        if project is None:
            return str(value)
        if 0 <= value < project.num_classes:
            return project.classes[value].name
        if project.ignore_index is not None and value == project.ignore_index:
            return "ignore"
        return f"no class ({value})"

    def class_counts(self) -> np.ndarray:
        """Pixels of each class in the current mask (length ``num_classes``)."""
        n = self.project.num_classes if self.project else 0
        if self.mask is None or n == 0:
            return np.zeros(n, np.int64)
        if self._hist is None or self._hist[0] != self._version:
            self._hist = (self._version, histogram(self.mask))
        counts = self._hist[1]
        if len(counts) < n:
            counts = np.pad(counts, (0, n - len(counts)))
        return counts[:n]

    def describe(self, x: int, y: int) -> dict | None:
        """What is under pixel ``(x, y)``: ``{"x", "y", "value", "class"}``, None outside."""
        shape = self.shape
        if shape is None or not (0 <= y < shape[0] and 0 <= x < shape[1]):
            return None
        info: dict = {"x": x, "y": y, "value": None, "class": None}
        if self.image is not None:
            v = self.image[y, x]
            info["value"] = tuple(v.tolist()) if np.ndim(v) else v.item()
        if self.mask is not None and y < self.mask.shape[0] and x < self.mask.shape[1]:
            info["class"] = self.class_name(int(self.mask[y, x]))
            if self.read_only is not None and self.stored is not None and self.stored.shape[:2] == self.mask.shape:
                s = self.stored[y, x]
                info["stored"] = tuple(s.tolist()) if np.ndim(s) else s.item()
        return info

    # ------------------------------------------------------------------ opening

    def open(self, root: str | os.PathLike, index: int = 0) -> None:
        """Open the dataset at ``root`` and load pair ``index``.

        Raises :class:`~fcnstudio.core.dataset.DatasetError` when the folder is
        not a dataset; the session is then unchanged. Resolve unsaved edits
        first (:meth:`resolve_unsaved`).
        """
        dataset = open_dataset(root)
        try:
            project, error = load_project(dataset), None
        except ProjectError as exc:
            project, error = infer_project(dataset), f"{exc} (classes were inferred from the masks instead)"
        if self._stroke_open:
            self.end_stroke()
        self.dataset, self.project, self.project_error = dataset, project, error
        self.project_dirty = False
        self.findings = ()
        self._error_counts = {}
        self._unreadable = set()
        self.index = -1
        self.read_ahead.cancel()
        self.dataset_changed.emit()
        self._load(max(0, min(index, len(dataset.pairs) - 1)))

    def go_to(self, index: int, ask: Callable[[str, bool], str] | None = None) -> bool:
        """Make pair ``index`` current; unsaved edits are autosaved or ``ask``-ed first.

        Returns False when the user cancelled (the current pair stays).
        """
        if self.dataset is None or not 0 <= index < len(self.dataset.pairs):
            return False
        if index == self.index:
            return True
        if not self.resolve_unsaved(ask):
            return False
        self._load(index)
        return True

    def step(self, delta: int, ask=None) -> bool:
        """Go to the next (``+1``) or previous (``-1``) pair; False at either end or on cancel."""
        if self.dataset is None:
            return False
        return self.go_to(self.index + delta, ask) if 0 <= self.index + delta < len(self.dataset.pairs) else False

    def reload(self) -> None:
        """Read the current pair again from disk (its unsaved edits are dropped)."""
        if self.pair is not None:
            self._drop_track()
            self._load(self.index)

    def forget_history(self, mask_paths) -> int:
        """Drop the undo history of the other pairs whose mask is among ``mask_paths``.

        ``mask_paths`` are relative to the dataset root, as a fix reports them:
        a fix rewrote those masks on disk, so patches recorded against their old
        pixels must never be replayed onto the new ones. The current pair is left
        to :meth:`reload` (its unsaved edits are the user's to resolve). Returns
        how many histories were dropped.
        """
        if self.dataset is None:
            return 0
        wanted = {str(p).replace("\\", "/") for p in mask_paths}
        current = self._key()
        dropped = 0
        for pair in self.dataset.pairs:
            key = self._key(pair)
            if pair.mask is not None and key != current and key in self._tracks \
                    and self.dataset.relative(pair.mask) in wanted:
                del self._tracks[key]
                dropped += 1
        return dropped

    def resolve_unsaved(self, ask: Callable[[str, bool], str] | None = None, *, autosave: bool | None = None) -> bool:
        """Before leaving the current pair: save (autosave) or ask; False to stay.

        ``ask(message, can_save)`` returns :data:`ASK_SAVE`, :data:`ASK_DISCARD`
        or :data:`ASK_CANCEL`. Without ``ask`` and without autosave, unsaved
        edits are kept by refusing to leave.
        """
        if self._stroke_open:
            self.end_stroke()
        if not self.dirty:
            return True
        autosave = self.autosave if autosave is None else autosave
        name = self.pair.name if self.pair else "mask"
        error = None
        if autosave:
            try:
                self.save()
                return True
            except (OSError, SessionError) as exc:
                error = f"Could not save {name}: {exc}"
        if ask is None:
            return False
        answer = ask(error or f"{name} has unsaved edits.", error is None)
        if answer == ASK_SAVE and error is None:
            try:
                self.save()
                return True
            except (OSError, SessionError) as exc:
                answer = ask(f"Could not save {name}: {exc}", False)
        if answer == ASK_DISCARD:
            self.discard()
            return True
        return False

    def discard(self) -> None:
        """Drop the current pair's unsaved edits (its mask is read again from disk)."""
        if self.pair is not None:
            self.reload()

    def _key(self, pair: Pair | None = None) -> str | None:
        pair = pair or self.pair
        if pair is None:
            return None
        return str(pair.image or pair.mask)

    def _track(self, create: bool = True) -> _Track | None:
        key = self._key()
        if key is None:
            return None
        track = self._tracks.get(key)
        if track is None and create and self.mask is not None:
            track = self._tracks[key] = _Track(History.for_mask(self.mask, budget=self.budget))
        return track

    def _drop_track(self) -> None:
        self._stroke_open = self._stroke_changed = False
        key = self._key()
        if key is not None:
            self._tracks.pop(key, None)

    def _load(self, index: int) -> None:
        self._stroke_open = self._stroke_changed = False
        pair = self.dataset.pairs[index]
        files = self.read_ahead.take(index, pair) or read_pair(pair)
        errors: list[str] = []
        image = files.image
        if files.image_error:
            errors.append(f"Image: {files.image_error}")
        elif pair.image is None:
            errors.append(f"{pair.name}: no image file for this mask (missing-image).")
        target = self.target_path(pair)
        mask, stored, read_only, new = opened_mask(pair, files, image, self.project, target,
                                                   self.dataset.relative(target))
        if read_only is not None and read_only.code == "unreadable":
            errors.append(f"Mask: {read_only.message}")
        self.index = index
        self.image, self.mask, self.stored, self.read_only = image, mask, stored, read_only
        self._version += 1
        self._hist = (self._version, files.hist) if files.hist is not None and read_only is None else None
        self.mask_is_new = new
        self.load_errors = tuple(errors)
        if files.image_error or (read_only is not None and read_only.code == "unreadable"):
            self._unreadable.add(index)
        else:
            self._unreadable.discard(index)
        track = self._track(create=False)
        if track is not None and (mask is None or read_only is not None
                                  or track.history.shape != mask.shape or track.history.dtype != mask.dtype):
            self._drop_track()
        self.pair_changed.emit()
        self.status_changed.emit()
        self._prefetch_neighbours()

    # ------------------------------------------------------------------ reading ahead

    def _prefetch_neighbours(self) -> None:
        """Start reading the previous and next pairs (a user mostly steps through the list)."""
        wanted = ()
        if self.prefetch and self.image is not None and self.image.nbytes <= PREFETCH_MAX_BYTES:
            wanted = [(i, self.dataset.pairs[i]) for i in (self.index + 1, self.index - 1)
                      if 0 <= i < len(self.dataset.pairs)]
        self.read_ahead.want(wanted)

    def shutdown(self) -> None:
        """Stop reading ahead and join the background thread (the session stays usable); emits ``closed``."""
        self.read_ahead.shutdown()
        self.closed.emit()

    # ------------------------------------------------------------------ editing

    def begin_stroke(self) -> bool:
        """Start one undo step (a brush stroke). False when the mask is read-only."""
        if not self.editable:
            return False
        if self._stroke_open:
            self.end_stroke()
        self._track().history.begin()
        self._stroke_open, self._stroke_changed = True, False
        return True

    def apply(self, tool: Callable[..., Change | None], *args, **kwargs) -> Rect | None:
        """Run a :mod:`fcnstudio.core.edits` tool on the current mask and record it.

        ``tool(mask, *args, **kwargs)`` edits in place and returns a Change.
        Outside ``begin_stroke()``/``end_stroke()`` the edit is a step of its
        own. Returns the dirty rect, or None (nothing changed, or read-only).
        """
        if not self.editable:
            return None
        own_step = not self._stroke_open
        if own_step:
            self.begin_stroke()
        try:
            change = tool(self.mask, *args, **kwargs)
            if change is not None:
                self._track().history.record(change)
                was_dirty = self.dirty
                self._stroke_changed = True
                self._version += 1
                self.mask_changed.emit(change.rect)
                if not was_dirty:
                    self.status_changed.emit()
        finally:
            if own_step:
                self.end_stroke()
        return change.rect if change is not None else None

    def end_stroke(self) -> bool:
        """Close the step opened by :meth:`begin_stroke`; True when it changed pixels."""
        if not self._stroke_open:
            return False
        self._stroke_open = False
        track = self._track()
        was_dirty = self.dirty
        stored = track.history.end()
        if stored:
            track.done.append(self._next_id())
            track.undone.clear()
        self._stroke_changed = False
        if was_dirty != self.dirty:
            self.status_changed.emit()
        return stored

    _ids = 0

    @classmethod
    def _next_id(cls) -> int:
        cls._ids += 1
        return cls._ids

    def undo(self) -> Rect | None:
        return self._undo_redo(undo=True)

    def redo(self) -> Rect | None:
        return self._undo_redo(undo=False)

    def _undo_redo(self, undo: bool) -> Rect | None:
        if not self.editable:
            return None
        if self._stroke_open:
            self.end_stroke()
        track = self._track(create=False)
        if track is None:
            return None
        rect = (track.history.undo if undo else track.history.redo)(self.mask)
        if rect is None:
            return None
        src, dst = (track.done, track.undone) if undo else (track.undone, track.done)
        if src:
            dst.append(src.pop())
        self._version += 1
        self.mask_changed.emit(rect)
        self.status_changed.emit()
        return rect

    # ------------------------------------------------------------------ saving

    def target_path(self, pair: Pair | None = None) -> Path:
        """Where saving writes ``pair``'s mask: its PNG, or ``<stem>.png`` next to a non-PNG one."""
        pair = pair or self.pair
        path = self.dataset.mask_path_for(pair)
        return path if path.suffix.lower() == ".png" else path.with_suffix(".png")

    def save(self) -> Path | None:
        """Write the current mask as a palette PNG (atomically). Returns the path, None if nothing to write.

        A mask stored in another format (TIFF, GIF, BMP) is written as
        ``<stem>.png`` and the original is moved to ``.fcnstudio/backup/``, so
        the pair keeps one mask. Raises :class:`SessionError` (read-only, name
        taken) or ``OSError`` (disk).
        """
        pair = self.pair
        if pair is None or self.mask is None:
            raise SessionError("nothing to save: no mask is open")
        if self.read_only is not None:
            raise SessionError(f"{pair.name} is read-only: {self.read_only.message}")
        if self._stroke_open:
            self.end_stroke()
        if self.project_dirty:
            self.save_project()
        if not self.dirty and not self.mask_is_new:
            return None
        target = self.target_path(pair)
        old = pair.mask
        if old is not None and old != target and target.exists():
            raise SessionError(
                f"cannot save {pair.name}: {target.name} already exists next to {old.name}; "
                "remove one of the two masks first."
            )
        if write_protected(target):
            raise SessionError(f"{self.dataset.relative(target)} is write-protected on disk; nothing was written")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_mask(target, self.mask, self.project.colors)
        if old is not None and old != target:
            self._retire(old)
        if old != target:
            self._replace_pair(replace(pair, mask=target))
        self.mask_is_new = False
        track = self._track()
        if track is not None:
            track.saved = track.top
        self.status_changed.emit()
        return target

    def _retire(self, path: Path) -> Path:
        """Move a replaced original into ``.fcnstudio/backup/<time>/`` inside the dataset."""
        rel = Path(self.dataset.relative(path))
        if rel.is_absolute():
            rel = Path(path.name)
        dest = self.dataset.root / ".fcnstudio" / "backup" / time.strftime("%Y%m%d-%H%M%S") / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(dest))
        return dest

    def _replace_pair(self, pair: Pair) -> None:
        pairs = list(self.dataset.pairs)
        pairs[self.index] = pair
        self.dataset = replace(self.dataset, pairs=tuple(pairs))

    # ------------------------------------------------------------------ classes

    def add_class(self, name: str | None = None, color: tuple[int, int, int] | None = None) -> int:
        """Append a class; returns its index. Writes fcnstudio.json."""
        project = self._need_project()
        dtype = self.mask.dtype if self.mask is not None else None
        self._set_project(with_class_added(project, name, color, dtype))
        return project.num_classes

    def rename_class(self, index: int, name: str) -> None:
        self._set_project(with_class_renamed(self._need_project(), index, name))

    def recolor_class(self, index: int, color: tuple[int, int, int]) -> None:
        self._set_project(with_class_recolored(self._need_project(), index, color))

    def save_project(self) -> Path:
        """Write fcnstudio.json (atomically)."""
        project = self._need_project()
        if write_protected(self.dataset.root / PROJECT_FILE):
            raise PermissionError(f"{PROJECT_FILE} is write-protected on disk (file or folder permissions)")
        path = save_project(self.dataset.root, project.with_changes(inferred=False))
        self.project = project.with_changes(inferred=False)
        self.project_dirty = False
        return path

    def _set_project(self, project: Project) -> None:
        self.project = project
        self.project_dirty = True
        self.project_changed.emit()
        self.save_project()  # may raise OSError: the change stays, project_dirty says unsaved

    def _need_project(self) -> Project:
        if self.project is None:
            raise SessionError("open a dataset first")
        return self.project

    # ------------------------------------------------------------------ findings

    def set_findings(self, findings) -> None:
        """Show the checker's findings: pairs with an error get a mark in the list."""
        self.findings = tuple(findings)
        self._error_counts = error_counts(self.dataset, self.findings)
        self.status_changed.emit()
