"""Reading and writing image and mask files safely.

(~400 lines, kept whole: reading and writing share the size limits and the
formats, and two dozen modules import it; split it with them if it grows.)

Every file FCN Studio writes goes through :func:`atomic_write_bytes`: a temp file
in the same folder, fsync, rename. A crash leaves the old file or the new one,
never a mix. Reading refuses what is not an image or is too large before any
pixel is decoded, with a message that names the file.

Arrays are row-major ``[y, x]`` (``[y, x, c]`` for colour, channels in RGB(A)
order, not OpenCV's BGR).
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

#: Images with more pixels than this are refused (decompression bombs).
MAX_PIXELS = 2**28  # 268 Mpx: a 16384 x 16384 image still opens
#: Files larger than this are refused before reading.
MAX_FILE_BYTES = 2**31

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".gif", ".bmp", ".jpg", ".jpeg")

Image.MAX_IMAGE_PIXELS = None  # we enforce our own limit, with our own message
try:  # decode errors are reported by us, naming the file; OpenCV/libtiff/libpng must not also print them
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # pragma: no cover - very old OpenCV
    pass


class ImageReadError(ValueError):
    """A file that cannot be read as an image; the message names the file and why."""


@dataclass(frozen=True)
class MaskFile:
    """A mask as stored on disk.

    ``array`` holds the stored values untouched: palette indices for a palette
    PNG, 8- or 16-bit values for grey masks, ``HxWx3``/``HxWx4`` RGB(A) for colour
    masks, floats for float TIFFs. ``palette`` is the ``(256, 3)`` uint8 colour
    table of a palette image, else None. ``format`` is Pillow's format name
    ("PNG", "JPEG", "TIFF", "GIF", "BMP"), ``mode`` Pillow's mode ("P", "L",
    "I;16", "RGB", "F", ...).
    """

    array: np.ndarray
    palette: np.ndarray | None
    format: str
    mode: str
    exif_orientation: int = 1


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    format: str
    mode: str
    frames: int = 1
    exif_orientation: int = 1


def _crash_only(reader):
    """Make ``reader(path)`` raise only :class:`ImageReadError` (naming the file) for a bad file.

    Decoders given hostile bytes raise anything (``OSError``, ``struct.error``,
    ``IndexError``, ``cv2.error``, ``MemoryError`` ...): whatever escapes the
    reader's own checks becomes one clear error, and decoder warnings stay quiet.
    """

    @functools.wraps(reader)
    def guarded(path, *args, **kwargs):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"{reader.__name__} expects a file path, got {type(path).__name__}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return reader(path, *args, **kwargs)
        except ImageReadError:
            raise
        except MemoryError as exc:
            raise ImageReadError(f"{Path(path).name}: not enough memory to decode this file.") from exc
        except RecursionError as exc:
            raise ImageReadError(f"{Path(path).name}: the file is damaged (nested too deeply to decode).") from exc
        except Exception as exc:  # noqa: BLE001 - the crash-only boundary of every decoder
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise ImageReadError(f"{Path(path).name}: the file is damaged or not an image FCN Studio can read "
                                 f"({detail}).") from exc

    return guarded


def _open_pil(path: Path) -> Image.Image:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"{path.name}: cannot read the file ({exc.strerror or exc}).") from exc
    if not path.is_file():
        raise ImageReadError(f"{path.name}: not a regular file.")
    if size == 0:
        raise ImageReadError(f"{path.name}: the file is empty (0 bytes).")
    if size > MAX_FILE_BYTES:
        raise ImageReadError(f"{path.name}: file too large ({size / 2**30:.1f} GiB).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
    except PermissionError as exc:
        raise ImageReadError(f"{path.name}: permission denied.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path.name}: not an image file FCN Studio can read ({exc}).") from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise ImageReadError(f"{path.name}: image has no pixels ({w}x{h}).")
    if w * h > MAX_PIXELS:
        img.close()
        raise ImageReadError(
            f"{path.name}: {w}x{h} is larger than the limit of {MAX_PIXELS / 1e6:.0f} megapixels "
            "(refused as a possible decompression bomb)."
        )
    return img


def _exif_orientation(img: Image.Image) -> int:
    try:
        if img.format == "PNG" and "exif" not in img.info:
            # Pillow's getexif() on a PNG decodes the whole image to look for an eXIf chunk
            # after the pixel data; one before them is already in img.info. Not worth a decode.
            return 1
        value = img.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a broken EXIF block is not our problem here
        return 1


@_crash_only
def read_header(path: str | os.PathLike) -> ImageHeader:
    """Size, format and mode of an image without decoding its pixels."""
    with _open_pil(Path(path)) as img:
        return ImageHeader(
            width=img.size[0],
            height=img.size[1],
            format=img.format or "",
            mode=img.mode,
            frames=getattr(img, "n_frames", 1),
            exif_orientation=_exif_orientation(img),
        )


def _decode_with_pil(img: Image.Image, path: Path) -> np.ndarray:
    try:
        img.load()
        if img.mode in ("I;16", "I;16B", "I;16L"):
            arr = np.array(img, dtype=np.uint16)
        elif img.mode == "I":
            arr = np.array(img)
            if arr.size and arr.min() >= 0 and arr.max() <= 65535:
                arr = arr.astype(np.uint16)
        elif img.mode in ("1",):
            arr = np.array(img, dtype=np.uint8)
        elif img.mode in ("LA", "PA"):
            arr = np.array(img.convert("RGBA"))
        elif img.mode == "CMYK" or img.mode == "YCbCr":
            arr = np.array(img.convert("RGB"))
        else:
            arr = np.array(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{path.name}: the file is damaged or truncated ({exc}).") from exc
    return arr


def _decode_with_cv2(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        return None
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        # cvtColor knows 8/16-bit and float32 only; reorder other depths by hand.
        if arr.dtype in (np.uint8, np.uint16, np.float32):
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
        else:
            arr = np.ascontiguousarray(arr[..., [2, 1, 0, 3][: arr.shape[2]]])
    return arr


def _tiff_fallback(path: Path, exc: ImageReadError) -> np.ndarray:
    """Decode a TIFF that Pillow cannot identify (float64, multi-channel float, int32 ...) with OpenCV.

    Re-raises ``exc`` when the file is not a TIFF or OpenCV cannot decode it either.
    """
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        raise exc
    try:
        arr = _decode_with_cv2(path)
    except cv2.error:
        arr = None
    if arr is None or arr.ndim not in (2, 3) or arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise exc
    return arr


@_crash_only
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image with its stored depth: ``HxW`` or ``HxWxC`` (RGB/RGBA order).

    8-bit stays uint8, 16-bit stays uint16, float TIFFs stay float32. EXIF
    orientation is *not* applied (masks carry none; see the exif-rotation check).
    Raises :class:`ImageReadError` for anything that is not a readable image.
    """
    path = Path(path)
    try:
        img = _open_pil(path)
    except ImageReadError as exc:
        return _check_decoded(_tiff_fallback(path, exc), path)
    with img:
        fmt = img.format
        palette_like = img.mode in ("P", "PA", "1", "LA", "I", "F", "I;16", "I;16B", "I;16L")
        if palette_like or fmt in ("GIF", "TIFF"):
            arr = _decode_with_pil(img, path)
            if img.mode in ("P", "PA"):
                arr = np.array(img.convert("RGBA" if "transparency" in img.info else "RGB"))
            return _check_decoded(arr, path)
    # OpenCV is faster for PNG/JPEG/BMP; fall back to Pillow if it refuses.
    arr = _decode_with_cv2(path)
    if arr is None:
        with _open_pil(path) as img:
            arr = _decode_with_pil(img, path)
    return _check_decoded(arr, path)


def _check_decoded(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ImageReadError(f"{path.name}: decoded to an unexpected shape {arr.shape}.")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr


@_crash_only
def read_mask_file(path: str | os.PathLike) -> MaskFile:
    """Decode a mask with its stored values intact (see :class:`MaskFile`)."""
    path = Path(path)
    try:
        img = _open_pil(path)
    except ImageReadError as exc:
        arr = _check_decoded(_tiff_fallback(path, exc), path)
        mode = "F" if arr.dtype.kind == "f" else ("I" if arr.ndim == 2 else "RGB")
        return MaskFile(array=arr, palette=None, format="TIFF", mode=mode)
    with img:
        fmt = img.format or ""
        mode = img.mode
        orientation = _exif_orientation(img)
        palette = None
        if mode in ("P", "PA"):
            raw = img.getpalette() or []
            pal = np.zeros((256, 3), np.uint8)
            vals = np.asarray(raw[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
            pal[: len(vals)] = vals
            palette = pal
            try:
                img.load()
                arr = np.array(img.getchannel(0) if mode == "PA" else img)
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ImageReadError(f"{path.name}: the file is damaged or truncated ({exc}).") from exc
            # A palette GIF keeps its indices too: that is what Pillow-based loaders
            # (np.array(Image.open(p))) feed to training, e.g. Carvana's 0/1 GIFs.
        elif fmt in ("PNG", "BMP") and mode in ("L", "RGB", "RGBA"):
            arr = _decode_with_cv2(path)
            if arr is None:
                arr = _decode_with_pil(img, path)
        else:
            arr = _decode_with_pil(img, path)
    arr = _check_decoded(arr, path)
    return MaskFile(array=arr, palette=palette, format=fmt, mode=mode, exif_orientation=orientation)



def read_mask(path: str | os.PathLike) -> np.ndarray:
    """The stored values of a mask (palette PNG → indices; 16-bit kept; RGB kept)."""
    return read_mask_file(path).array


# ---------------------------------------------------------------- writing


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    The bytes go to a temp file in the same folder, are fsynced, then renamed
    over the target; the folder is fsynced so the rename itself is durable.
    """
    path = Path(path)
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{_temp_stem(path.name)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            try:
                os.chmod(tmp, path.stat().st_mode & 0o777)
            except OSError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _temp_stem(name: str, name_max: int = 255) -> str:
    """``name`` cut so that ``.NAME.xxxxxxxx.tmp`` fits the file system's name limit (255 bytes)."""
    raw = os.fsencode(name)
    room = name_max - len(".." + "x" * 8 + ".tmp")
    return name if len(raw) <= room else os.fsdecode(raw[:room])


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def default_colors(n: int) -> list[tuple[int, int, int]]:
    """The Pascal VOC colour map: distinct, and what VOC palette masks already use."""
    colors = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colors.append((r, g, b))
    return colors


def encode_mask_png(mask: np.ndarray, colors: list[tuple[int, int, int]] | None = None) -> bytes:
    """Encode a class-index mask as a single-channel palette PNG.

    8-bit palette for values < 256 (the class colours become the palette, so any
    viewer shows colours and any loader reads indices); a 16-bit grey PNG when a
    value does not fit in 8 bits.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    if mask.dtype.kind not in "iub":
        raise ValueError(f"a mask must hold integer class indices, got {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > 65535):
        raise ValueError("mask values must be between 0 and 65535")
    buf = io.BytesIO()
    if mask.size == 0 or mask.max() < 256:
        img = Image.fromarray(mask.astype(np.uint8, copy=False), mode="P")
        table = default_colors(256)
        if colors:
            # Entries past the given classes are black (255 keeps the VOC void colour), so that a
            # 2-class mask does not carry the 21 VOC colours and read back as a Pascal VOC dataset.
            table = [(0, 0, 0)] * 255 + [table[255]]
        for i, c in enumerate(colors or []):
            if i < 256:
                table[i] = tuple(int(v) for v in c)
        img.putpalette([v for c in table for v in c])
        img.save(buf, format="PNG", optimize=False, compress_level=1)
    else:
        ok, enc = cv2.imencode(".png", mask.astype(np.uint16))
        if not ok:
            raise ValueError("could not encode the mask as PNG")
        return enc.tobytes()
    return buf.getvalue()


def write_mask(path: str | os.PathLike, mask: np.ndarray, colors: list[tuple[int, int, int]] | None = None) -> None:
    """Atomically write ``mask`` as a palette PNG (see :func:`encode_mask_png`)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"masks are written as PNG; {path.name} does not end in .png")
    atomic_write_bytes(path, encode_mask_png(mask, colors))
