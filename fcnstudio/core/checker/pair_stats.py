"""Per-pair analysis for the checker: decode one image and its mask, summarise them.

This is the part of :mod:`fcnstudio.core.checker.run` that runs in worker processes.
:func:`analyse_pair` takes file paths and returns a :class:`PairSummary` of a few
hundred bytes (value histogram, shape, dtype, flags) — never pixel arrays — so
any number of pairs can stream through a process pool in bounded memory. It
knows nothing of the project: :mod:`fcnstudio.core.checker.run` interprets the
summaries against the project and the rest of the dataset.

The cost next to decoding is kept small: a ``np.bincount`` for 8/16-bit masks,
min/max for images, a 3×3 erosion only for masks that hold 255, and the
neighbourhood analysis (:func:`fcnstudio.core.checker.artefacts.artefacts`) only for masks with four values or more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from .artefacts import K3, MIN_ARTEFACT_VALUES, Artefacts, artefacts, bincount, color_artefacts, unique_inverse
from .border_bands import BorderBands, border_bands
from ..io import ImageReadError, read_header, read_image, read_mask_file

#: At most this many distinct values (or colours) are kept per mask, the most frequent.
MAX_VALUES = 1024


@dataclass(frozen=True)
class PairTask:
    """What a worker needs for one pair: absolute paths and the paths to report."""

    index: int
    stem: str
    image: str | None
    mask: str | None
    image_rel: str = ""
    mask_rel: str = ""


@dataclass(frozen=True)
class ImageSummary:
    path: str
    error: str | None = None
    height: int = 0
    width: int = 0
    channels: int = 0
    dtype: str = ""
    format: str = ""
    exif_orientation: int = 1
    #: The one value of an image that has a single value everywhere, else None.
    constant: float | None = None
    #: Number of NaN/Inf values (float images only).
    nonfinite: int = 0


@dataclass(frozen=True)
class MaskFileSummary:
    path: str
    error: str | None = None
    height: int = 0
    width: int = 0
    channels: int = 1
    dtype: str = ""
    format: str = ""
    mode: str = ""
    exif_orientation: int = 1
    #: "voc" for the Pascal VOC colour map, "other" for another palette, None without one.
    palette: str | None = None
    #: (index, (r, g, b)) for the palette entries the mask uses (at most 64).
    palette_used: tuple = ()
    #: "int" (grey/index values), "float", or "color" (RGB(A); values are 0xRRGGBB).
    kind: str = "int"
    #: All colour channels equal (a grey mask stored as RGB).
    grey_rgb: bool = False
    #: Has an alpha channel that is not fully opaque.
    alpha: bool = False
    values: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()
    n_distinct: int = 0
    pixels: int = 0
    #: Largest distance of a finite float value from a whole number.
    float_dev: float = 0.0
    nonfinite: int = 0
    #: Share of the 255 pixels (65535 for 16-bit) that survive a 3×3 erosion: ~0 for thin bands.
    solid_top: float | None = None
    artefacts: Artefacts | None = None
    bands: BorderBands | None = None

    def histogram(self) -> dict[int, int]:
        return dict(zip(self.values, self.counts))


@dataclass(frozen=True)
class PairSummary:
    index: int
    stem: str
    image: ImageSummary | None
    mask: MaskFileSummary | None


# ---------------------------------------------------------------- entry points


def analyse_pair(task: PairTask) -> PairSummary:
    """Decode and summarise one pair (runs in a worker; never raises for a bad file).

    A file whose analysis fails unexpectedly is reported on its own (as not
    analysable) instead of aborting the check of the whole dataset.
    """
    image = _guarded(analyse_image, ImageSummary, task.image, task.image_rel) if task.image else None
    mask = _guarded(analyse_mask, MaskFileSummary, task.mask, task.mask_rel) if task.mask else None
    return PairSummary(task.index, task.stem, image, mask)


def _guarded(fn, summary_type, path: str, rel: str):
    try:
        return fn(path, rel)
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the check of all others
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        return summary_type(rel, error=f"{rel}: could not be analysed ({type(exc).__name__}: {detail}).")


def decode_pair(task: PairTask) -> int:
    """Decode only (the floor the checker's speed is measured against)."""
    n = 0
    if task.image:
        n += read_image(task.image).size
    if task.mask:
        n += read_mask_file(task.mask).array.size
    return n


def decode_chunk(tasks: list[PairTask]) -> list[int]:
    return [decode_pair(t) for t in tasks]


def analyse_image(path: str, rel: str) -> ImageSummary:
    try:
        arr = read_image(path)
    except ImageReadError as exc:
        return ImageSummary(rel, error=str(exc))
    except (cv2.error, MemoryError, OSError, ValueError) as exc:
        return ImageSummary(rel, error=f"{rel}: could not be decoded ({exc}).")
    fmt, orientation = _format_and_orientation(path)
    nonfinite = 0
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        nonfinite = int(arr.size - np.count_nonzero(finite))
        vals = arr[finite] if nonfinite else arr
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    else:
        lo, hi = float(arr.min()), float(arr.max())
    return ImageSummary(
        path=rel,
        height=int(arr.shape[0]),
        width=int(arr.shape[1]),
        channels=1 if arr.ndim == 2 else int(arr.shape[2]),
        dtype=str(arr.dtype),
        format=fmt,
        exif_orientation=orientation,
        constant=lo if lo == hi else None,
        nonfinite=nonfinite,
    )


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF"}


def _format_and_orientation(path: str) -> tuple[str, int]:
    """Image format and EXIF orientation without a second full header parse where it can be avoided.

    JPEG: the APP1 segment is read directly (a few hundred bytes); TIFF: through
    Pillow's header; PNG/BMP/GIF: orientation 1 (an eXIf chunk in a PNG is rare,
    and :mod:`fcnstudio.core.io` ignores one stored after the pixels too).
    """
    ext = os.path.splitext(path)[1].lower()
    fmt = _FORMATS.get(ext, "")
    if fmt == "JPEG":
        try:
            return fmt, jpeg_orientation(path)
        except OSError:
            return fmt, 1
    if fmt in ("TIFF", ""):
        try:
            header = read_header(path)
            return header.format or fmt, header.exif_orientation
        except ImageReadError:  # a TIFF only OpenCV reads
            return fmt or "TIFF", 1
    return fmt, 1


def jpeg_orientation(path: str) -> int:
    """The EXIF orientation tag (1..8) of a JPEG file, 1 when there is none; reads only the header."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 17)
    if data[:2] != b"\xff\xd8":
        return 1
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return 1
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan: no more metadata
            return 1
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10 : pos + 2 + length])
        pos += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    n = int.from_bytes(tiff[ifd : ifd + 2], order)
    for i in range(n):
        e = ifd + 2 + 12 * i
        if e + 12 > len(tiff):
            break
        if int.from_bytes(tiff[e : e + 2], order) == 0x0112:
            value = int.from_bytes(tiff[e + 8 : e + 10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def analyse_mask(path: str, rel: str) -> MaskFileSummary:
    try:
        mf = read_mask_file(path)
    except ImageReadError as exc:
        return MaskFileSummary(rel, error=str(exc))
    except (cv2.error, MemoryError, OSError, ValueError) as exc:
        return MaskFileSummary(rel, error=f"{rel}: could not be decoded ({exc}).")
    a = mf.array
    base = dict(
        path=rel,
        height=int(a.shape[0]),
        width=int(a.shape[1]),
        channels=1 if a.ndim == 2 else int(a.shape[2]),
        dtype=str(a.dtype),
        format=mf.format,
        mode=mf.mode,
        exif_orientation=mf.exif_orientation,
        pixels=int(a.shape[0] * a.shape[1]),
    )
    if a.ndim == 3:
        rgb = a[..., :3]
        if a.shape[2] == 4 or a.shape[2] == 2:
            base["alpha"] = bool((a[..., -1] != a[..., -1].max()).any())
        if rgb.shape[2] == 3 and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            base["grey_rgb"] = True
        if a.dtype.kind == "f" and base.get("grey_rgb"):
            return _float_summary(rgb[..., 0], base)
        return _color_summary(rgb, mf.format, base)
    if a.dtype.kind == "f":
        return _float_summary(a, base)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if mf.palette is not None:
        base["palette"] = "voc" if _is_voc_palette(mf.palette) else "other"
    return _int_summary(a, mf.format, base, mf.palette)


# ---------------------------------------------------------------- mask kinds


def _histogram(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.dtype == np.uint8:
        counts = bincount(a)
        vals = np.flatnonzero(counts)
        return vals, counts[vals]
    if a.dtype.kind == "u" and a.dtype.itemsize <= 2:
        counts = np.bincount(a.ravel(), minlength=256)
        vals = np.flatnonzero(counts)
        return vals, counts[vals]
    vals, counts = np.unique(a, return_counts=True)
    return vals.astype(np.int64), counts


def _truncate(vals: np.ndarray, counts: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if len(vals) > MAX_VALUES:
        keep = np.sort(np.argsort(counts, kind="stable")[::-1][:MAX_VALUES])
        vals, counts = vals[keep], counts[keep]
    return tuple(int(v) for v in vals), tuple(int(c) for c in counts)


def _int_summary(a: np.ndarray, fmt: str, base: dict, palette: np.ndarray | None) -> MaskFileSummary:
    vals, counts = _histogram(a)
    solid = None
    top = 255 if 255 in vals and a.dtype == np.uint8 else (65535 if a.dtype == np.uint16 and 65535 in vals else None)
    if top is not None and len(vals) > 1:
        solid = _solid_share(a == top)
    art = None
    jpeg = fmt == "JPEG"
    if (len(vals) >= MIN_ARTEFACT_VALUES + 1 or jpeg) and a.dtype.kind in "ui" and vals[0] >= 0 and vals[-1] <= 65535:
        try:
            art = artefacts(a if a.dtype.itemsize <= 2 else a.astype(np.uint16), vals, counts, force=jpeg)
        except (ValueError, IndexError, cv2.error, MemoryError):  # the analysis is a bonus, the histogram is not
            art = None
    bands = border_bands(a, vals) if art is None and not jpeg and a.dtype in (np.uint8, np.uint16) else None
    used = ()
    if palette is not None and len(vals) <= 64:
        used = tuple((int(v), tuple(int(x) for x in palette[v])) for v in vals if 0 <= v < 256)
    values, cnts = _truncate(vals, counts)
    return MaskFileSummary(
        **base, kind="int", values=values, counts=cnts, n_distinct=len(vals), solid_top=solid, artefacts=art, bands=bands,
        palette_used=used,
    )


def _float_summary(a: np.ndarray, base: dict) -> MaskFileSummary:
    finite = np.isfinite(a)
    nonfinite = int(a.size - np.count_nonzero(finite))
    f = a[finite] if nonfinite else a.ravel()
    dev = 0.0
    if f.size:
        r = np.rint(f)
        dev = float(np.abs(f - r).max())
        r = np.clip(r, -(2**31), 2**31 - 1).astype(np.int64)
        vals, counts = np.unique(r, return_counts=True)
    else:
        vals = counts = np.zeros(0, np.int64)
    values, cnts = _truncate(vals, counts)
    base = {**base, "channels": 1}
    return MaskFileSummary(
        **base, kind="float", values=values, counts=cnts, n_distinct=len(vals), float_dev=dev, nonfinite=nonfinite
    )


def _color_summary(rgb: np.ndarray, fmt: str, base: dict) -> MaskFileSummary:
    if rgb.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    elif rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(np.nan_to_num(rgb.astype(np.float64))), 0, 255).astype(np.uint8)
    if rgb.shape[2] < 3:
        rgb = np.repeat(rgb[..., :1], 3, axis=2)
    key = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    vals, inverse, counts = unique_inverse(key)
    art = None
    if len(vals) >= MIN_ARTEFACT_VALUES + 1 or fmt == "JPEG":
        try:
            art = color_artefacts(rgb, inverse.reshape(key.shape), vals, counts, force=fmt == "JPEG")
        except (ValueError, IndexError, cv2.error, MemoryError):
            art = None
    values, cnts = _truncate(vals.astype(np.int64), counts)
    return MaskFileSummary(**base, kind="color", values=values, counts=cnts, n_distinct=len(vals), artefacts=art)


def _solid_share(binary: np.ndarray) -> float:
    b = binary.view(np.uint8) if binary.dtype == bool else binary.astype(np.uint8)
    total = int(np.count_nonzero(b))
    if total == 0:
        return 0.0
    return float(np.count_nonzero(cv2.erode(b, K3, borderType=cv2.BORDER_REPLICATE))) / total


def _is_voc_palette(palette: np.ndarray) -> bool:
    from ..io import default_colors

    voc = np.asarray(default_colors(21), np.uint8)
    return bool(np.array_equal(palette[:21], voc))
