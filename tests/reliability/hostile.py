"""A corpus of hostile inputs for FCN Studio, and mutation fuzzing of real encoded files.

Everything is made here, in the test, from a seed: no file is downloaded.

- :func:`valid_files` — small, valid PNG / JPEG / TIFF / GIF / BMP encodings
  (the seeds of the fuzzer and the material of truncations).
- :func:`file_cases` — :class:`Case` objects, each one hostile file (bytes) to be
  placed as an image or as a mask: empty files, truncations at many offsets,
  text named ``.png``, decompression bombs, 1×1 and 1×65535 images, 16-bit and
  float TIFFs with NaN/Inf, palette PNGs with transparency, multi-page TIFFs,
  4-channel masks.
- :func:`fs_cases` — hostile *file-system* entries made by a callable: non-UTF-8
  and 250-byte file names, symlink loops, dangling links, links that leave the
  dataset, a folder and a FIFO named like images.
- :func:`project_cases` — hostile ``fcnstudio.json`` texts.
- :func:`mutate` — one mutation (bit flips, byte stamps, truncation, splice,
  chunk duplication/removal) of an encoded file.
- :func:`build_dataset` — a plain-layout dataset holding a list of cases, each
  paired with a valid partner of the right size.

The corpus knows nothing of FCN Studio's API: ``entrypoints.py`` drives the app.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

#: Side of the valid images the corpus is made from (small: decoding stays fast).
W, H = 48, 32


@dataclass(frozen=True)
class Case:
    """One hostile input.

    ``role`` is ``"image"``, ``"mask"`` or ``"both"`` (used in either place).
    ``suffix`` is the file name's extension (the content may lie about it).
    ``data`` is the file content, or None when ``make(folder, stem)`` creates the
    entry itself (links, FIFOs, odd names) and returns its path (or None if the
    file system refuses it). ``listed``: whether a dataset listing is expected to
    show the entry (False for links that loop, FIFOs, folders: they must be
    skipped, never opened).
    """

    name: str
    role: str
    suffix: str
    data: bytes | None = None
    make: Callable[[Path, str], Path | None] | None = field(default=None, compare=False)
    listed: bool = True
    note: str = ""


# ---------------------------------------------------------------- valid material


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def sample_mask(h: int = H, w: int = W, classes: int = 3, seed: int = 0) -> np.ndarray:
    """A class-index mask with blocky regions (compresses like a real mask)."""
    rng = _rng(seed)
    small = rng.integers(0, classes, (max(1, h // 8), max(1, w // 8))).astype(np.uint8)
    return np.kron(small, np.ones((8, 8), np.uint8))[:h, :w].copy() if h >= 8 and w >= 8 else \
        rng.integers(0, classes, (h, w)).astype(np.uint8)


def sample_image(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    rng = _rng(seed)
    return rng.integers(0, 256, (h, w, 3)).astype(np.uint8)


def palette_bytes(n: int = 256) -> list[int]:
    rng = _rng(7)
    pal = rng.integers(0, 256, (n, 3)).astype(np.uint8)
    pal[0] = 0
    return pal.ravel().tolist()


def valid_files(seed: int = 0) -> dict[str, bytes]:
    """Small valid encodings, keyed ``"<kind>.<ext>"``; the fuzzer's seeds."""
    return dict(_valid_files(seed))


@functools.lru_cache(maxsize=4)
def _valid_files(seed: int) -> dict[str, bytes]:
    img = sample_image(seed=seed)
    mask = sample_mask(seed=seed)
    grey = img[..., 0]
    out: dict[str, bytes] = {}
    out["rgb.png"] = _encode(Image.fromarray(img), "PNG")
    out["grey.png"] = _encode(Image.fromarray(grey), "PNG")
    p = Image.fromarray(mask, mode="P")
    p.putpalette(palette_bytes())
    out["palette.png"] = _encode(p, "PNG")
    out["grey16.png"] = _encode(Image.fromarray(mask.astype(np.uint16) * 1000), "PNG")
    out["rgb.jpg"] = _encode(Image.fromarray(img), "JPEG", quality=85)
    out["grey.jpg"] = _encode(Image.fromarray(grey), "JPEG", quality=85)
    out["rgb.tif"] = _encode(Image.fromarray(img), "TIFF")
    out["grey.tif"] = _encode(Image.fromarray(mask), "TIFF", compression="tiff_deflate")
    out["grey16.tif"] = _encode(Image.fromarray(mask.astype(np.uint16) * 300), "TIFF")
    out["float.tif"] = _encode(Image.fromarray(mask.astype(np.float32) / 2), "TIFF")
    out["lzw.tif"] = _encode(Image.fromarray(img), "TIFF", compression="tiff_lzw")
    out["mask.gif"] = _encode(p, "GIF")
    out["rgb.gif"] = _encode(Image.fromarray(img).convert("P"), "GIF")
    out["rgb.bmp"] = _encode(Image.fromarray(img), "BMP")
    out["mask.bmp"] = _encode(Image.fromarray(mask), "BMP")
    return out


# ---------------------------------------------------------------- crafted encodings


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_with_header(width: int, height: int, *, bit_depth: int = 8, color_type: int = 0, rows: int = 4) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` with valid CRCs and a short IDAT.

    The pixel data covers at most ``rows`` rows (a bomb's header, not its body).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    row = b"\x00" + b"\x00" * min(width, 4096)
    idat = zlib.compress(row * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bomb(side: int) -> bytes:
    """A real zlib bomb: ``side`` x ``side`` zero pixels, fully encoded (compresses ~1000:1)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 frame header is patched to declare ``width`` x ``height``."""
    data = bytearray(_encode(Image.fromarray(sample_image(16, 16)), "JPEG"))
    i = 2
    while i < len(data) - 9:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker in the JPEG")


def gif_with_size(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.fromarray(sample_mask(16, 16), mode="L"), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)  # logical screen
    # image descriptor: first 0x2C after the header and colour table
    j = data.index(0x2C, 13)
    struct.pack_into("<HH", data, j + 5, width, height)
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A little-endian TIFF whose ImageWidth/ImageLength tags are patched."""
    data = bytearray(_encode(Image.fromarray(sample_mask(16, 16)), "TIFF"))
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    for k in range(n):
        off = ifd + 2 + 12 * k
        tag, typ = struct.unpack_from("<HH", data, off)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if typ == 3:
                struct.pack_into("<HHIH", data, off, tag, 3, 1, min(value, 65535))
            else:
                struct.pack_into("<HHII", data, off, tag, 4, 1, value)
    return bytes(data)


def bmp_with_size(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.fromarray(sample_image(8, 8)), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def multipage_tiff() -> bytes:
    pages = [Image.fromarray(sample_mask(H, W, seed=1)), Image.fromarray(sample_mask(64, 64, seed=2)),
             Image.fromarray(sample_image(20, 10, seed=3))]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    return buf.getvalue()


def float_tiff(values: np.ndarray) -> bytes:
    return _encode(Image.fromarray(values.astype(np.float32), mode="F"), "TIFF")


def float64_tiff(values: np.ndarray) -> bytes:
    import cv2

    ok, enc = cv2.imencode(".tiff", values.astype(np.float64))
    assert ok
    return enc.tobytes()


def nan_inf(h: int = H, w: int = W) -> np.ndarray:
    a = sample_mask(h, w).astype(np.float32)
    a[0, 0] = np.nan
    a[1, 1] = np.inf
    a[2, 2] = -np.inf
    return a


def palette_png_transparent() -> bytes:
    p = Image.fromarray((sample_mask() * 80).astype(np.uint8), mode="P")
    p.putpalette(palette_bytes(256))
    p.info["transparency"] = bytes([0] + [255] * 200 + [128] * 55)
    return _encode(p, "PNG", transparency=bytes([0] + [255] * 200 + [128] * 55))


def array_png(arr: np.ndarray) -> bytes:
    import cv2

    a = arr
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., [2, 1, 0, 3][: a.shape[2]]]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(a))
    assert ok
    return enc.tobytes()


# ---------------------------------------------------------------- the file cases


def truncation_offsets(n: int) -> list[int]:
    """Offsets that cut headers, chunk boundaries and the body of an ``n``-byte file."""
    offs = {1, 2, 4, 8, 12, 16, 24, 33, 41, 64, 100, n // 4, n // 2, (3 * n) // 4, n - 16, n - 12, n - 4, n - 1}
    return sorted(o for o in offs if 0 < o < n)


def file_cases() -> list[Case]:
    v = valid_files()
    cases: list[Case] = []
    add = cases.append
    for ext in ("png", "jpg", "tif", "gif", "bmp"):
        add(Case(f"empty-{ext}", "both", ext, b"", note="zero-byte file"))
    for key in ("rgb.png", "palette.png", "rgb.jpg", "rgb.tif", "lzw.tif", "mask.gif", "rgb.bmp", "float.tif"):
        data = v[key]
        stem, ext = key.split(".")
        for off in truncation_offsets(len(data)):
            add(Case(f"trunc-{stem}-{ext}-{off}", "both", ext, data[:off], note=f"{key} cut at byte {off}"))
    add(Case("text-as-png", "both", "png", b"this is a text file, not an image\n" * 4))
    add(Case("html-as-jpg", "both", "jpg", b"<!doctype html><html><body>404</body></html>\n"))
    add(Case("png-signature-then-junk", "both", "png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4))
    add(Case("tiff-header-only", "both", "tif", b"II*\x00\x08\x00\x00\x00"))
    add(Case("tiff-ifd-loop", "both", "tif", b"II*\x00\x08\x00\x00\x00" + b"\x00\x00" + struct.pack("<I", 8)))
    add(Case("jpeg-soi-only", "both", "jpg", b"\xff\xd8\xff\xd9"))
    add(Case("gif-header-only", "both", "gif", b"GIF89a"))
    add(Case("png-as-jpg", "both", "jpg", v["rgb.png"], note="valid PNG bytes named .jpg"))
    add(Case("jpg-as-png", "both", "png", v["rgb.jpg"], note="valid JPEG bytes named .png"))
    # decompression bombs: huge declared sizes, small files
    add(Case("bomb-png-100k", "both", "png", png_with_header(100_000, 100_000), note="declares 10^10 px"))
    add(Case("bomb-png-max32", "both", "png", png_with_header(2**31 - 1, 2**31 - 1), note="declares 2^31-1 square"))
    add(Case("bomb-png-just-over", "both", "png", png_with_header(16_500, 16_500), note="272 Mpx, just over the limit"))
    add(Case("bomb-png-rgba16", "both", "png", png_with_header(20_000, 20_000, bit_depth=16, color_type=6)))
    add(Case("bomb-png-zero-width", "both", "png", png_with_header(0, 10)))
    add(Case("bomb-jpeg", "both", "jpg", jpeg_with_size(65_500, 65_500), note="SOF declares 65500^2"))
    add(Case("bomb-gif", "both", "gif", gif_with_size(65_535, 65_535)))
    add(Case("bomb-tiff", "both", "tif", tiff_with_size(100_000, 100_000)))
    add(Case("bomb-bmp", "both", "bmp", bmp_with_size(100_000, -100_000)))
    add(Case("bomb-zlib-png", "both", "png", png_bomb(4096), note="16 Mpx of zeros in ~16 KB: legitimately decodable"))
    # extreme shapes
    add(Case("1x1-png", "both", "png", array_png(np.array([[1]], np.uint8))))
    add(Case("1x65535-png", "both", "png", array_png((np.arange(65535) % 3).astype(np.uint8)[None, :])))
    add(Case("65535x1-png", "both", "png", array_png((np.arange(65535) % 2).astype(np.uint8)[:, None])))
    add(Case("1x1-rgba-png", "both", "png", array_png(np.zeros((1, 1, 4), np.uint8))))
    # depths and special values
    add(Case("uint16-tif", "both", "tif", v["grey16.tif"]))
    add(Case("uint16-png-65535", "both", "png", array_png(np.where(sample_mask() > 0, 65535, 0).astype(np.uint16))))
    add(Case("float32-nan-inf-tif", "both", "tif", float_tiff(nan_inf())))
    add(Case("float32-all-nan-tif", "both", "tif", float_tiff(np.full((H, W), np.nan))))
    add(Case("float64-tif", "both", "tif", float64_tiff(nan_inf().astype(np.float64))))
    add(Case("float32-huge-tif", "both", "tif", float_tiff(np.full((H, W), 3e38))))
    add(Case("int32-negative-tif", "both", "tif",
             _encode(Image.fromarray((sample_mask().astype(np.int32) - 2), mode="I"), "TIFF")))
    add(Case("palette-256-transparent", "both", "png", palette_png_transparent()))
    add(Case("multipage-tiff", "both", "tif", multipage_tiff(), note="3 pages of different sizes"))
    add(Case("rgba-png", "both", "png", array_png(np.dstack([sample_image(), np.full((H, W), 200, np.uint8)]))))
    add(Case("rgba16-png", "both", "png", array_png(np.dstack([sample_image().astype(np.uint16) * 257] * 1 +
                                                               [np.full((H, W), 65535, np.uint16)]))))
    add(Case("la-png", "both", "png", _encode(Image.fromarray(sample_mask() * 100).convert("LA"), "PNG")))
    add(Case("1bit-png", "both", "png", _encode(Image.fromarray(sample_mask() > 0), "PNG")))
    add(Case("cmyk-jpeg", "both", "jpg", _encode(Image.fromarray(sample_image()).convert("CMYK"), "JPEG")))
    add(Case("exif-rotated-jpeg", "image", "jpg", _exif_jpeg(6)))
    add(Case("gif-animated", "both", "gif", _animated_gif()))
    return cases


def _exif_jpeg(orientation: int) -> bytes:
    img = Image.fromarray(sample_image())
    exif = img.getexif()
    exif[0x0112] = orientation
    return _encode(img, "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.fromarray(sample_mask(seed=s) * 60, mode="L") for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=10, loop=0)
    return buf.getvalue()


# ---------------------------------------------------------------- file-system cases


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _content_for(folder: Path) -> bytes:
    """A valid image for the images/ folder, a valid mask elsewhere."""
    return valid_files()["rgb.png"] if folder.name == "images" else array_png(sample_mask())


def _non_utf8(folder: Path, stem: str) -> Path | None:
    name = os.fsencode(stem) + b"-\xff\xfe\xe9." + b"png"
    path = os.path.join(os.fsencode(folder), name)
    try:
        with open(path, "wb") as fh:
            fh.write(_content_for(folder))
    except OSError:
        return None
    return Path(os.fsdecode(path))


def _long_name(folder: Path, stem: str) -> Path | None:
    name = (stem + "-" + "x" * 255)[: 255 - 4] + ".png"
    path = folder / name
    try:
        path.write_bytes(_content_for(folder))
    except OSError:
        return None
    return path


def _self_loop(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    os.symlink(path.name, path)
    return path


def _pair_loop(folder: Path, stem: str) -> Path | None:
    a, b = folder / f"{stem}.png", folder / f"{stem}-b.png"
    os.symlink(b.name, a)
    os.symlink(a.name, b)
    return a


def _dangling(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    os.symlink("no-such-file-anywhere.png", path)
    return path


def _dir_loop(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    os.symlink(".", path)  # a "file" that is the folder itself
    return path


def _folder_named_png(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    path.mkdir()
    (path / "inner.png").write_bytes(valid_files()["rgb.png"])
    return path


def _fifo(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    try:
        os.mkfifo(path)
    except (OSError, AttributeError):
        return None
    return path


def _dev_zero(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    if not os.path.exists("/dev/zero"):
        return None
    os.symlink("/dev/zero", path)
    return path


def _hidden_tmp(folder: Path, stem: str) -> Path | None:
    """A leftover temp file of an interrupted atomic write: must never be taken for data."""
    path = folder / f".{stem}.png.k2j4h1x0.tmp"
    path.write_bytes(valid_files()["rgb.png"][:40])
    return path


def fs_cases() -> list[Case]:
    return [
        Case("non-utf8-name", "both", "png", make=_non_utf8, note="file name bytes are not UTF-8"),
        Case("long-name", "both", "png", make=_long_name, note="a 255-byte file name"),
        Case("symlink-self-loop", "both", "png", make=_self_loop, listed=False),
        Case("symlink-pair-loop", "both", "png", make=_pair_loop, listed=False),
        Case("symlink-dangling", "both", "png", make=_dangling, listed=False),
        Case("symlink-to-folder", "both", "png", make=_dir_loop, listed=False),
        Case("folder-named-png", "both", "png", make=_folder_named_png, listed=False),
        Case("fifo-named-png", "both", "png", make=_fifo, listed=False, note="opening it would block forever"),
        Case("symlink-dev-zero", "both", "png", make=_dev_zero, listed=False, note="endless file"),
        Case("leftover-temp-file", "both", "png", make=_hidden_tmp, listed=False),
    ]


# ---------------------------------------------------------------- project files


def project_cases() -> list[tuple[str, bytes]]:
    """``(name, content)`` of hostile fcnstudio.json files; every one must be refused with a clear message."""
    ok_classes = [{"name": "background", "color": [0, 0, 0]}, {"name": "fg", "color": [255, 0, 0]}]

    def j(obj) -> bytes:
        import json

        return json.dumps(obj).encode()

    return [
        ("empty", b""),
        ("not-json", b"classes: [background, fg]\n"),
        ("truncated", j({"classes": ok_classes})[:25]),
        ("null", b"null"),
        ("list", b"[1, 2, 3]"),
        ("bare-number", b"1" * 5000),
        ("classes-string", j({"classes": "background,fg"})),
        ("classes-empty", j({"classes": []})),
        ("classes-dict", j({"classes": {"0": "bg"}})),
        ("classes-too-many", j({"classes": [{"name": f"c{i}"} for i in range(5000)]})),
        ("class-name-number", j({"classes": [{"name": 1}, {"name": 2}]})),
        ("class-color-huge", b'{"classes": [{"name": "a", "color": [1e308, 0, 0]}, {"name": "b"}]}'),
        ("class-color-negative", j({"classes": [{"name": "a", "color": [-1, 0, 0]}, {"name": "b"}]})),
        ("class-color-bad-hex", j({"classes": [{"name": "a", "color": "#gg0000"}, {"name": "b"}]})),
        ("class-color-nested", j({"classes": [{"name": "a", "color": [[0], [0], [0]]}, {"name": "b"}]})),
        ("ignore-inf", b'{"classes": ["a", "b"], "ignore_index": 1e400}'),
        ("ignore-huge-int", b'{"classes": ["a", "b"], "ignore_index": ' + b"9" * 40 + b"}"),
        ("ignore-negative", j({"classes": ["a", "b"], "ignore_index": -1})),
        ("ignore-string", j({"classes": ["a", "b"], "ignore_index": "255"})),
        ("ignore-bool", j({"classes": ["a", "b"], "ignore_index": True})),
        ("nan-literal", b'{"classes": ["a", "b"], "ignore_index": NaN}'),
        ("label-map-list", j({"classes": ["a", "b"], "label_map": [[255, 1]]})),
        ("label-map-bad-key", j({"classes": ["a", "b"], "label_map": {"two hundred": 1}})),
        ("label-map-huge-key", j({"classes": ["a", "b"], "label_map": {"1" * 5000: 1}})),
        ("label-map-negative-key", j({"classes": ["a", "b"], "label_map": {"-5": 1}})),
        ("label-map-huge-value", j({"classes": ["a", "b"], "label_map": {"255": 10**20}})),
        ("label-map-float-value", j({"classes": ["a", "b"], "label_map": {"255": 1.5}})),
        ("label-map-bad-colour", j({"classes": ["a", "b"], "label_map": {"#12345": 1}})),
        ("deep-nesting", b"[" * 100_000 + b"]" * 100_000),
        ("deep-nesting-in-training", b'{"classes": ["a", "b"], "training": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001),
        ("training-list", j({"classes": ["a", "b"], "training": [1, 2]})),
        ("not-utf8", b'{"classes": ["\xff\xfe", "b"]}'),
        ("utf16", '{"classes": ["a", "b"]}'.encode("utf-16")),
        ("too-large", b'{"classes": ["a", "b"], "pad": "' + b"x" * (17 * 2**20) + b'"}'),
    ]


def project_cases_accepted() -> list[tuple[str, bytes]]:
    """Odd but valid project files: they load; settings that name paths must not lead outside the dataset."""
    import json

    return [
        ("training-paths-dotdot", json.dumps({
            "classes": ["background", "fg"],
            "training": {"out_dir": "../../outside-run", "resume": "../../../etc/passwd", "crop_size": 10**12,
                         "batch_size": -3, "lr": "fast", "loss": "nope"},
        }).encode()),
        ("class-names-long", json.dumps({"classes": [{"name": "n" * 100_000}, {"name": "../../x"}]}).encode()),
        ("bom-utf8", b"\xef\xbb\xbf" + json.dumps({"classes": ["a", "b"]}).encode()),
    ]


# ---------------------------------------------------------------- checkpoints


def checkpoint_cases(valid: bytes) -> list[tuple[str, bytes]]:
    """Hostile checkpoint files made from a ``valid`` one (bytes of a torch.save)."""
    cases = [("empty", b""), ("text", b"not a checkpoint\n"), ("zip-junk", b"PK\x03\x04" + b"\x00" * 200)]
    n = len(valid)
    for label, off in (("2", 2), ("64", 64), ("512", 512), ("third", n // 3), ("half", n // 2),
                       ("end-200", n - 200), ("end-1", n - 1)):
        cases.append((f"truncated-{label}", valid[: max(1, min(off, n - 1))]))
    flipped = bytearray(valid)
    for i in range(100, len(flipped), max(1, len(flipped) // 20)):
        flipped[i] ^= 0xFF
    cases.append(("bit-flipped", bytes(flipped)))
    return cases


class _Evil:
    """Pickled, it would run ``touch SENTINEL`` when unpickled without ``weights_only``."""

    def __init__(self, sentinel: str):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def evil_checkpoint(sentinel: Path) -> bytes:
    import pickle

    return pickle.dumps({"model": _Evil(str(sentinel))})


def evil_torch_checkpoint(sentinel: Path) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"model": _Evil(str(sentinel)), "config": {}}, buf)
    return buf.getvalue()


# ---------------------------------------------------------------- mutation fuzzing


INTERESTING = (0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE)


def mutate(data: bytes, rng: np.random.Generator, donors: list[bytes] | None = None) -> tuple[str, bytes]:
    """One random mutation of ``data``: ``(description, mutated bytes)``.

    Kinds: flip 1–8 random bits; stamp "interesting" bytes (0, 255, 127 ...)
    over 1–4 bytes, favouring the header; truncate; splice the head of this
    file with the tail of a donor; duplicate or delete a block; insert random bytes.
    """
    b = bytearray(data)
    n = len(b)
    kind = int(rng.integers(0, 7))
    if n == 0:
        return "empty", b""
    if kind == 0:
        k = int(rng.integers(1, 9))
        pos = rng.integers(0, n, k)
        for p in pos:
            b[int(p)] ^= 1 << int(rng.integers(0, 8))
        return f"flip{k}@{sorted(int(p) for p in pos)[:3]}", bytes(b)
    if kind == 1:
        k = int(rng.integers(1, 5))
        head = min(n, 128)
        out = []
        for _ in range(k):
            p = int(rng.integers(0, head)) if rng.random() < 0.7 else int(rng.integers(0, n))
            b[p] = INTERESTING[int(rng.integers(0, len(INTERESTING)))]
            out.append(p)
        return f"stamp@{out}", bytes(b)
    if kind == 2:
        cut = int(rng.integers(1, n))
        return f"trunc@{cut}", bytes(b[:cut])
    if kind == 3 and donors:
        d = donors[int(rng.integers(0, len(donors)))]
        cut = int(rng.integers(1, n))
        dcut = int(rng.integers(0, max(1, len(d))))
        return f"splice@{cut}+{dcut}", bytes(b[:cut]) + d[dcut:]
    if kind == 4:
        a = int(rng.integers(0, n))
        ln = int(rng.integers(1, min(256, n - a) + 1))
        return f"dup@{a}+{ln}", bytes(b[: a + ln]) + bytes(b[a:])
    if kind == 5:
        a = int(rng.integers(0, n))
        ln = int(rng.integers(1, min(64, n - a) + 1))
        return f"del@{a}+{ln}", bytes(b[:a]) + bytes(b[a + ln :])
    a = int(rng.integers(0, n))
    junk = rng.integers(0, 256, int(rng.integers(1, 33))).astype(np.uint8).tobytes()
    return f"insert@{a}", bytes(b[:a]) + junk + bytes(b[a:])


def fuzz_cases(count: int, seed: int = 0) -> list[Case]:
    """``count`` mutated files, made from :func:`valid_files`, as image/mask cases."""
    rng = np.random.default_rng(seed)
    seeds = valid_files()
    keys = sorted(seeds)
    donors = [seeds[k] for k in keys]
    out = []
    for i in range(count):
        key = keys[int(rng.integers(0, len(keys)))]
        how, data = mutate(seeds[key], rng, donors)
        if rng.random() < 0.25:  # stack a second mutation
            how2, data = mutate(data, rng, donors)
            how = f"{how}+{how2}"
        out.append(Case(f"fuzz-{i:05d}", "both", key.split(".")[1], data, note=f"{key}: {how}"))
    return out


# ---------------------------------------------------------------- datasets


@dataclass
class Placed:
    """Where a case went in a dataset: the hostile path and its valid partner."""

    case: Case
    role: str  # "image" or "mask": the side that is hostile
    path: Path | None  # None when the file system refused to make it
    partner: Path | None


def build_dataset(root: Path, cases: list[Case], roles: tuple[str, ...] = ("image", "mask"),
                  with_good: int = 2) -> list[Placed]:
    """A plain-layout dataset at ``root`` holding each case as an image and/or as a mask.

    Each hostile file gets a valid partner (a 48x32 image or a 0..2 mask) under
    the same stem, plus ``with_good`` fully valid pairs. Stems are
    ``<role>-<case name>``.
    """
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    good_img, good_mask = valid_files()["rgb.png"], array_png(sample_mask())
    for i in range(with_good):
        _write(images / f"good-{i}.png", good_img)
        _write(masks / f"good-{i}.png", good_mask)
    placed: list[Placed] = []
    for case in cases:
        for role in roles:
            if case.role not in ("both", role):
                continue
            stem = f"{role[0]}-{case.name}"
            folder, other = (images, masks) if role == "image" else (masks, images)
            if case.make is not None:
                path = case.make(folder, stem)
                pstem = stem if path is None or not case.listed else path.stem
            else:
                path = _write(folder / f"{stem}.{case.suffix}", case.data or b"")
                pstem = stem
            partner = _write(other / f"{pstem}.png", good_mask if role == "image" else good_img)
            placed.append(Placed(case, role, path, partner))
    return placed


def snapshot(folder: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """``{relative path: (kind, size, mtime_ns, content hash)}`` of everything under ``folder`` (links not followed)."""
    import hashlib

    out: dict[str, tuple] = {}
    skip_abs = tuple(os.path.abspath(s) for s in skip)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        if any(os.path.abspath(dirpath) == s or os.path.abspath(dirpath).startswith(s + os.sep) for s in skip_abs):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if os.path.abspath(p) in skip_abs:
                continue
            rel = os.path.relpath(p, folder)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            elif os.path.isfile(p):
                with open(p, "rb") as fh:
                    h = hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
                out[rel] = ("file", st.st_size, h)
            else:
                out[rel] = ("other", st.st_mode)
    return out


def diff_snapshots(before: dict, after: dict) -> list[str]:
    changes = []
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            what = "added" if k not in before else "removed" if k not in after else "changed"
            changes.append(f"{what}: {k}")
    return changes
