"""Reading and writing image and mask files safely.

Every file FCN Studio writes goes through :func:`atomic_write_bytes`: a temp file
in the same folder, fsync, rename. A crash leaves the old file or the new one,
never a mix. Reading refuses what is not an image or is too large before any
pixel is decoded, with a message that names the file.

Arrays are row-major ``[y, x]`` (``[y, x, c]`` for colour, channels in RGB(A)
order, not OpenCV's BGR).
"""

from __future__ import annotations

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
        value = img.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a broken EXIF block is not our problem here
        return 1


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
    if arr.ndim == 3:
        if arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        elif arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image with its stored depth: ``HxW`` or ``HxWxC`` (RGB/RGBA order).

    8-bit stays uint8, 16-bit stays uint16, float TIFFs stay float32. EXIF
    orientation is *not* applied (masks carry none; see the exif-rotation check).
    Raises :class:`ImageReadError` for anything that is not a readable image.
    """
    path = Path(path)
    with _open_pil(path) as img:
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


def read_mask_file(path: str | os.PathLike) -> MaskFile:
    """Decode a mask with its stored values intact (see :class:`MaskFile`)."""
    path = Path(path)
    with _open_pil(path) as img:
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
            if fmt == "GIF" and _palette_is_grey(palette):
                # GIF stores grey masks as palette images: the values are the grey levels.
                arr = palette[arr, 0]
                palette = None
                mode = "L"
        elif fmt in ("PNG", "BMP") and mode in ("L", "RGB", "RGBA"):
            arr = _decode_with_cv2(path)
            if arr is None:
                arr = _decode_with_pil(img, path)
        else:
            arr = _decode_with_pil(img, path)
    arr = _check_decoded(arr, path)
    return MaskFile(array=arr, palette=palette, format=fmt, mode=mode, exif_orientation=orientation)


def _palette_is_grey(palette: np.ndarray) -> bool:
    return bool(np.all(palette[:, 0] == palette[:, 1]) and np.all(palette[:, 1] == palette[:, 2]))


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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
