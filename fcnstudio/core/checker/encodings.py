"""How masks store classes, and how to turn a stored value or colour into a class index.

Shared by the checker (:mod:`fcnstudio.core.checker.rules`) and the fixes
(:mod:`fcnstudio.core.fixes`), so that what the checker reports and what a fix
writes agree on every value.

Luminance tables: reading a Pascal VOC palette PNG with
``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` or Pillow's ``convert("L")`` stores
the *brightness* of each class colour (aeroplane (128, 0, 0) → 38, bicycle → 75,
…), not the class index. The tables map those grey values back to VOC classes.
Two VOC colours share a brightness in a few cases (aeroplane and potted plant
are both 38 in BT.601); the lower class index wins and the fix says so.
"""

from __future__ import annotations

import numpy as np

from ..io import default_colors

VOC_VOID = 255
_VOC = default_colors(256)


def pack(rgb) -> int:
    r, g, b = (int(x) for x in rgb[:3])
    return (r << 16) | (g << 8) | b


def unpack(key: int) -> tuple[int, int, int]:
    return (int(key) >> 16) & 255, (int(key) >> 8) & 255, int(key) & 255


def hex_color(key: int) -> str:
    return "#%06x" % int(key)


#: Packed VOC colour → VOC index (0..20, and 255 for the void colour 224,224,192).
VOC_COLORS: dict[int, int] = {pack(_VOC[i]): i for i in range(21)}
VOC_COLORS[pack(_VOC[VOC_VOID])] = VOC_VOID


def _bt601_cv(r, g, b):  # OpenCV's fixed-point RGB2GRAY
    return (r * 4899 + g * 9617 + b * 1868 + 8192) >> 14


def _bt601_pil(r, g, b):  # Pillow's convert("L")
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16


def _bt709(r, g, b):  # scikit-image rgb2gray, then img_as_ubyte
    return int(round(0.2125 * r + 0.7154 * g + 0.0721 * b))


def _table(fns) -> dict[int, int]:
    table: dict[int, int] = {}
    for idx in [*range(21), VOC_VOID]:
        for fn in fns:
            table.setdefault(int(fn(*_VOC[idx])), idx)
    return table


#: (name, grey value → VOC index) for the common RGB→grey conversions.
LUMINANCE_TABLES: tuple[tuple[str, dict[int, int]], ...] = (
    ("BT.601 (OpenCV/Pillow greyscale)", _table((_bt601_cv, _bt601_pil))),
    ("BT.709 (scikit-image rgb2gray)", _table((_bt709,))),
)


def luminance_class(value: int, table: dict[int, int]) -> int | None:
    """The VOC class whose colour has this brightness (±1 for rounding), else None."""
    for v in (value, value - 1, value + 1):
        if v in table:
            return table[v]
    return None


def match_luminance(values) -> tuple[str, dict[int, int]] | None:
    """The luminance table that explains every non-zero grey value, if one does.

    Needs at least two distinct non-zero values, none below 13 (small values are
    class indices) and one of at least 30.
    """
    vals = sorted({int(v) for v in values if int(v) != 0})
    if len(vals) < 2 or vals[0] < 13 or vals[-1] < 30:
        return None
    for name, table in LUMINANCE_TABLES:
        if all(luminance_class(v, table) is not None for v in vals):
            return name, table
    return None


def color_index_map(colors, palette_colors: dict[int, int] | None = None) -> tuple[dict[int, int], str]:
    """Packed colour → class index for colour masks, and how it was chosen.

    In order: the Pascal VOC colour map when every colour is a VOC colour; the
    palette of the dataset's palette masks when it names every colour; else one
    class per colour, black first, then by brightness (as
    :func:`fcnstudio.core.checker.classes.infer_from_values` orders them).
    """
    keys = sorted({int(k) for k in colors})
    if keys and all(k in VOC_COLORS for k in keys):
        return {k: VOC_COLORS[k] for k in keys}, "voc"
    near = {k: _near_voc(k) for k in keys}
    if keys and all(v is not None for v in near.values()) and len(set(near.values())) > 1:
        return near, "voc"  # VOC colours shifted a little (a JPEG-saved colour mask)
    if keys and palette_colors and all(k in palette_colors for k in keys):
        return {k: palette_colors[k] for k in keys}, "palette"
    ordered = sorted(keys, key=lambda k: (k != 0, sum(unpack(k)), k))
    return {k: i for i, k in enumerate(ordered)}, "order"


def _near_voc(key: int, tol: int = 10) -> int | None:
    """The VOC class whose colour is within ``tol`` per channel of ``key`` (VOC colours are 64 apart)."""
    r, g, b = unpack(key)
    for k, idx in VOC_COLORS.items():
        kr, kg, kb = unpack(k)
        if abs(r - kr) <= tol and abs(g - kg) <= tol and abs(b - kb) <= tol:
            return idx
    return None


def nearest_color_index(rgb: np.ndarray, cmap: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Class index of each pixel of an ``HxWx3`` array: exact colour, else the nearest known one.

    Returns ``(indices, exact)`` where ``exact`` marks pixels whose colour was in ``cmap``.
    """
    keys = np.array(sorted(cmap), np.int64)
    idx = np.array([cmap[int(k)] for k in keys], np.int64)
    flat = rgb[..., :3].reshape(-1, 3).astype(np.int64)
    key = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse = np.unique(key, return_inverse=True)
    pos = np.searchsorted(keys, uniq)
    pos_c = np.clip(pos, 0, len(keys) - 1)
    exact_u = keys[pos_c] == uniq
    out_u = np.where(exact_u, idx[pos_c], -1)
    if not exact_u.all():
        ref = np.array([unpack(k) for k in keys], np.int64)
        miss = np.flatnonzero(~exact_u)
        cols = np.array([unpack(k) for k in uniq[miss]], np.int64)
        d = ((cols[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
        out_u[miss] = idx[d.argmin(1)]
    return out_u[inverse].reshape(rgb.shape[:2]), exact_u[inverse].reshape(rgb.shape[:2])
