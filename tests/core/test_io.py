"""Reading keeps stored values; writing is atomic and palette-coded; bad files get clear errors."""

import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from fcnstudio.core import io


def test_palette_png_reads_indices_not_colours(tmp_path):
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 15
    mask[0, 0] = 255
    img = Image.fromarray(mask, mode="P")
    img.putpalette([v for c in io.default_colors(256) for v in c])
    img.save(tmp_path / "m.png")
    mf = io.read_mask_file(tmp_path / "m.png")
    assert mf.mode == "P"
    assert mf.array.dtype == np.uint8 and mf.array.shape == (8, 10)
    np.testing.assert_array_equal(mf.array, mask)
    assert tuple(mf.palette[15]) == io.default_colors(16)[15]


def test_16bit_mask_stays_16bit(tmp_path):
    mask = np.zeros((6, 6), np.uint16)
    mask[1:3, 1:3] = 3
    mask[4, 4] = 1000
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    arr = io.read_mask(tmp_path / "m.png")
    assert arr.dtype == np.uint16
    np.testing.assert_array_equal(arr, mask)


def test_rgb_mask_stays_rgb_in_rgb_order(tmp_path):
    mask = np.zeros((4, 4, 3), np.uint8)
    mask[0, 0] = (255, 0, 0)
    Image.fromarray(mask).save(tmp_path / "m.png")
    arr = io.read_mask(tmp_path / "m.png")
    assert arr.shape == (4, 4, 3)
    assert tuple(arr[0, 0]) == (255, 0, 0)


def test_gif_masks_read_as_pillow_loaders_see_them(tmp_path):
    mask = np.zeros((5, 7), np.uint8)
    mask[1:3, 2:5] = 255
    # Pillow saves this grey image as a palette GIF: indices 0/1, palette black/white.
    Image.fromarray(mask, mode="L").save(tmp_path / "m.gif")
    with Image.open(tmp_path / "m.gif") as img:
        seen_by_loaders = np.array(img)
    mf = io.read_mask_file(tmp_path / "m.gif")
    np.testing.assert_array_equal(mf.array, seen_by_loaders)
    np.testing.assert_array_equal(mf.array == mf.array.max(), mask == 255)


def test_write_mask_roundtrip_is_palette_png_with_class_colours(tmp_path):
    mask = np.random.default_rng(0).integers(0, 3, (32, 40)).astype(np.uint8)
    colors = [(0, 0, 0), (10, 200, 30), (250, 5, 5)]
    io.write_mask(tmp_path / "out.png", mask, colors)
    with Image.open(tmp_path / "out.png") as img:
        assert img.mode == "P"
        pal = img.getpalette()[:9]
    assert pal == [0, 0, 0, 10, 200, 30, 250, 5, 5]
    np.testing.assert_array_equal(io.read_mask(tmp_path / "out.png"), mask)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_write_mask_refuses_non_png_and_non_integer(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        io.write_mask(tmp_path / "m.jpg", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="integer"):
        io.write_mask(tmp_path / "m.png", np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_content_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        io.atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_image_16bit_and_rgb_read_with_depth(tmp_path):
    grey16 = (np.arange(20, dtype=np.uint16) * 3000).reshape(4, 5)
    cv2.imwrite(str(tmp_path / "g.png"), grey16)
    arr = io.read_image(tmp_path / "g.png")
    assert arr.dtype == np.uint16
    np.testing.assert_array_equal(arr, grey16)
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])  # OpenCV writes BGR
    assert tuple(io.read_image(tmp_path / "c.png")[0, 0]) == (200, 0, 0)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
    ],
)
def test_bad_files_raise_a_message_naming_the_file(tmp_path, content, words):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(io.ImageReadError, match=words) as exc:
        io.read_image(p)
    assert "bad.png" in str(exc.value)


def test_truncated_png_is_refused(tmp_path):
    arr = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "ok.png"), arr)
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageReadError, match="cut.png"):
        io.read_image(tmp_path / "cut.png")
    with pytest.raises(io.ImageReadError, match="cut.png"):
        io.read_mask(tmp_path / "cut.png")


def _png_with_declared_size(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_with_declared_size(100_000, 100_000))
    with pytest.raises(io.ImageReadError, match="megapixels"):
        io.read_image(p)
    with pytest.raises(io.ImageReadError, match="megapixels"):
        io.read_header(p)
