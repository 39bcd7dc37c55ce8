"""The journal file format: one ``.npz`` per pair holding its unsaved pixels, and the checks made on reading it.

One journal file per pair, a ``.npz`` with two members: ``header`` (UTF-8
JSON: pair name, image and mask paths relative to the dataset, the box, the
mask's shape and dtype, the time of writing, and the mask file's size and
mtime when it was loaded or last saved) and ``values`` (the box of the mask).
The header sits inside the same file as the pixels, so one atomic rename
commits both. Reading checks every declared size before allocating, so a
damaged or hostile file raises ``ValueError`` and never exhausts memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..edits import Rect
from ..io import MAX_PIXELS

__all__ = ["FORMAT", "SUFFIX", "JournalEntry", "encode_journal", "journal_name", "mask_stamp", "read_entry"]

FORMAT = 1
SUFFIX = ".npz"
#: Journal files above this size are not read (a box of the largest mask the editor opens, compressed, is far less).
MAX_JOURNAL_BYTES = 2**31
_DTYPES = ("uint8", "uint16")
_HEADER_MAX = 64 * 1024


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
