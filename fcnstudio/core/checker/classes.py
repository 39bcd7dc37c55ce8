"""How stored mask values become classes: encodings, 255 as void, inferred classes, statistics.

Part of the checker's judgement (:mod:`fcnstudio.core.checker.rules` builds the
findings). Everything here works on the small per-mask summaries of
:mod:`fcnstudio.core.checker.pair_stats`, never on pixels. The rules are listed in
:mod:`fcnstudio.core.checker.rules`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from ..io import default_colors
from ..project import MAX_CLASSES, ClassInfo, Project
from . import encodings as enc
from . import palettes
from .artefacts import MIN_ARTEFACT_SHARE, MIN_ARTEFACT_VALUES, Artefacts
from .border_bands import flag_banded
from .pair_stats import MaskFileSummary

VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


@dataclass
class MaskView:
    """A readable mask and what the rules decided about it."""

    s: MaskFileSummary
    values: dict[int, int]  # value (or packed colour) → pixels, damaged values left out
    art: Artefacts | None = None  # the damage, after the dataset-wide second look
    family: str = "index"  # index | binary | color | luminance | float | empty
    encoding: str = ""  # the label shown in the statistics
    codes: list = field(default_factory=list)
    class_hist: dict = field(default_factory=dict)


@dataclass
class ClassReading:
    """How a dataset's masks were read as classes: the project, each mask's view, 255 as void, luminance."""

    project: Project
    masks: list[MaskView]
    void255: bool
    lum: tuple | None
    #: Values taken as out of range rather than classes (JPEG noise, stray values).
    outliers: set[int]


def read_classes(summaries: list[MaskFileSummary], declared: Project | None) -> ClassReading:
    """The one reading of stored values as classes, from readable mask summaries.

    ``declared``: the project file's (its classes are the truth); None infers the
    classes from these masks, damage and outliers left out.
    """
    masks = [MaskView(s, {}, s.artefacts) for s in summaries if s.error is None]
    second_look(masks)
    for m in masks:
        m.values = clean_values(m.s, m.art)
    flag_banded(masks)  # multi-class masks resized smoothly: bands of in-between classes (values kept whole)
    void255 = void_255(masks, declared)
    lum = find_luminance(masks, declared)
    classify(masks, declared, void255, lum)
    project, outliers = (declared, set()) if declared else infer_classes(masks, void255, lum)
    return ClassReading(project, masks, void255, lum, outliers)


def second_look(masks: list[MaskView]) -> None:
    """Take back from a mask's damage the values that are real classes elsewhere in the dataset.

    A class seen as tiny fragments in one mask (a far-away pole, an occluded
    object) looks like damage there; if the same value is a clean class in at
    least two other masks, and at least half as often as it is damage, it is a
    class. A PNG mask left with fewer than three damaged values (or under 0.05 %
    of its pixels) is not damaged after all. JPEG files stay lossy whatever.
    """
    clean: Counter = Counter()
    damaged: Counter = Counter()
    for m in masks:
        if m.art is not None and m.s.kind == "int":
            clean.update(m.art.dominant)
            damaged.update(m.art.damage)
        elif m.s.kind == "int":
            clean.update(m.s.values)
    for m in masks:
        art = m.art
        if art is None or m.s.kind != "int" or m.s.format == "JPEG" or not art.damage:
            continue
        taken = {v for v in art.damage if clean[v] >= 2 and clean[v] >= 0.5 * damaged[v]}
        if not taken:
            continue
        hist = m.s.histogram()
        left = [v for v in art.damage if v not in taken]
        pixels = sum(hist.get(v, 0) for v in left)
        if len(left) < MIN_ARTEFACT_VALUES or pixels < max(16, MIN_ARTEFACT_SHARE * m.s.pixels):
            m.art = None
            continue
        order = sorted(left, key=lambda v: -hist.get(v, 0))
        m.art = replace(art, values=tuple(order[:24]), n_values=len(left), pixels=int(pixels),
                        dominant=tuple(sorted(set(art.dominant) | taken)), damage=tuple(left))


def clean_values(s: MaskFileSummary, art: Artefacts | None) -> dict[int, int]:
    """The mask's values without its damage; in a damaged mask a class must hold 0.2 % of it."""
    hist = s.histogram()
    if art is not None:
        keep = set(art.dominant)
        floor = 0.002 * s.pixels
        clean = {v: c for v, c in hist.items() if v in keep and c >= floor}
        return clean or {v: c for v, c in hist.items() if v in keep}
    return hist


def void_255(masks: list[MaskView], declared: Project | None) -> bool:
    """Whether 255 means void here: masks hold 255 next to real classes (each ≥ 0.2 % of the mask).

    Needs such masks to be at least a fifth as many as the masks holding only 0
    and 255, so a few odd masks do not turn a binary dataset's foreground into void.
    """
    if declared is not None and (255 in declared.value_map or declared.ignore_index != 255):
        return False
    votes = binary = 0
    for m in masks:
        if m.s.kind != "int" or 255 not in m.values:
            continue
        others = [v for v in m.values if 0 < v < 255 and m.values[v] >= 0.002 * m.s.pixels]
        if others:
            votes += 1
        elif not any(0 < v < 255 for v in m.values):
            binary += 1
    return votes > 0 and votes >= 0.2 * binary


def find_luminance(masks: list[MaskView], declared: Project | None):
    """The luminance table when the dataset's grey masks are palette colours read as grey."""
    cands = [m for m in masks if m.s.kind == "int" and m.s.palette is None and any(v != 0 for v in m.values)]
    if not cands:
        return None
    union = set().union(*(m.values for m in cands))
    if declared is not None and max(union) < declared.num_classes:
        return None
    return palettes.match_luminance(union, masks)


def classify(masks: list[MaskView], declared: Project | None, void255: bool, lum) -> None:
    """Family (how classes are stored), encoding label and per-file codes of each mask."""
    maps_255 = declared is not None and 255 in declared.value_map
    color_map = declared.color_map if declared else {}
    for m in masks:
        s, vals = m.s, set(m.values)
        if s.format == "JPEG":
            m.codes.append("lossy-mask")
        elif m.art is not None:
            m.codes.append("lossy-mask" if m.art.verdict == "lossy" else "interpolation-artifacts")
        if s.kind == "float":
            m.family, m.encoding = "float", f"float ({s.dtype})"
            m.codes.append("non-integer-mask")
            continue
        if s.kind == "color":
            m.family = "color"
            m.encoding = "grey stored as RGB" if s.grey_rgb else ("RGBA colour" if s.channels == 4 else "RGB colour")
            known = {enc.pack(c) for c in color_map}
            if not (known and vals <= known):
                m.codes.append("color-mask")
            if vals <= {0}:
                m.family = "empty"
            continue
        nonzero = {v for v in vals if v != 0}
        depth = "16-bit " if s.dtype == "uint16" else ""
        m.encoding = f"{depth}palette index" if s.palette else (f"{depth}0/1" if nonzero == {1} else f"{depth}index")
        if not nonzero or (void255 and nonzero <= {255}):
            m.family = "empty"
        elif lum is not None and s.palette is None and all(enc.luminance_class(v, lum[1]) is not None for v in nonzero):
            m.family, m.encoding = "luminance", "palette luminance (grey)"
            m.codes.append("color-mask")
            continue
        elif not maps_255 and not void255 and (nonzero == {255} or nonzero == {65535}):
            m.family = "binary"
            m.codes.append("binary-255")
            m.encoding = "0/65535" if 65535 in nonzero else "0/255"


def infer_classes(masks: list[MaskView], void255: bool, lum) -> tuple[Project, set[int]]:
    """Classes inferred from every mask's values, and the outlier values (out of range)."""
    index = [m for m in masks if m.family in ("index", "empty") and m.s.kind == "int"]
    mask_count: Counter = Counter()
    for m in index:
        mask_count.update(v for v in m.values if not (void255 and v == 255))
    odd = find_outliers(mask_count, sum(1 for m in index if m.family == "index"))
    values = {v for v in mask_count if v not in odd and v >= 0}
    palette = palette_of(masks)
    notes = []
    if any(m.family == "binary" for m in masks):
        values |= {0, 1} if values - {0, 255, 65535} else {0, 255}
    if lum is not None and any(m.family == "luminance" for m in masks):
        for m in masks:
            if m.family == "luminance":
                values |= {c for v in m.values if (c := enc.luminance_class(v, lum[1])) is not None}
        palette, note = palettes.luminance_palette(lum)
        notes.append(note)
    for m in masks:
        if m.family == "float":
            values |= {v for v in m.values if 0 <= v < 65536}
    colors = set()
    for m in masks:
        if m.family == "color" or (m.s.kind == "color" and m.family == "empty"):
            colors |= set(m.values)
    if colors:
        cmap, how = enc.color_index_map(colors, palette_colors(masks))
        if how in ("voc", "palette") or values:
            values |= set(cmap.values())
            if how == "voc":
                palette = np.asarray(enc.default_colors(256), np.uint8)
            colors = set()
    if void255 and values:
        values.add(255)
    read = len(masks)
    project = infer_from_values(values, {enc.unpack(k) for k in colors}, palette, read)
    project = palettes.name_classes(project, lum) if any(m.family == "luminance" for m in masks) else project
    return project.with_changes(notes=tuple(notes) + project.notes), odd


def find_outliers(mask_count: Counter, n_masks: int) -> set[int]:
    """Values above a jump (next > 2 × previous + 8) found in at most 10 % of at least ten masks."""
    vals = sorted(v for v in mask_count if v >= 0)
    if n_masks < 10:
        return set()
    for i in range(len(vals) - 1):
        if vals[i + 1] > 2 * vals[i] + 8:
            above = vals[i + 1 :]
            if sum(mask_count[v] for v in above) <= 0.1 * n_masks:
                return set(above)
    return set()


def palette_of(masks: list[MaskView]) -> np.ndarray | None:
    for m in masks:
        if m.s.palette == "voc":
            return np.asarray(enc.default_colors(256), np.uint8)
    used = palette_colors(masks)
    if not used:
        return None
    pal = np.zeros((256, 3), np.uint8)  # only the entries the masks use: not mistaken for VOC's
    for key, idx in used.items():
        if idx < 256:
            pal[idx] = enc.unpack(key)
    return pal


def palette_colors(masks: list[MaskView]) -> dict[int, int]:
    out: dict[int, int] = {}
    for m in masks:
        for idx, rgb in m.s.palette_used:
            out.setdefault(enc.pack(rgb), idx)
    return out


def color_map_of(masks: list[MaskView], project: Project) -> tuple[dict[int, int], str]:
    if project.color_map:
        return {enc.pack(c): i for c, i in project.color_map.items()}, "project"
    colors = set().union(*(set(m.values) for m in masks if m.s.kind == "color")) if masks else set()
    if not colors:
        return {}, ""
    cmap, how = enc.color_index_map(colors, palette_colors(masks))
    if how == "order":  # match the inferred classes' colours where they agree
        by_color = {enc.pack(c.color): i for i, c in enumerate(project.classes)}
        if all(k in by_color for k in colors):
            return {k: by_color[k] for k in colors}, how
    return cmap, how


def map_classes(m: MaskView, project: Project, void255: bool, lum, cmap: dict[int, int]) -> None:
    """Class index → pixels for one mask (ignored pixels under ``project.ignore_index``, unmapped under -1)."""
    n = project.num_classes
    ignore = project.ignore_index
    vmap = project.value_map
    hist: dict[int, int] = defaultdict(int)
    for v, c in m.values.items():
        if m.s.kind == "color":
            k = cmap.get(v, -1)
        elif m.family == "luminance":
            k = enc.luminance_class(v, lum[1])
            k = -1 if k is None else k
        elif m.family == "binary":
            k = 1 if v in (255, 65535) else v
        else:
            k = vmap.get(v, v)
        if void255 and v == 255 and m.s.kind == "int" and m.family != "binary":
            k = ignore if ignore is not None else 255
        if ignore is not None and k == ignore:
            hist["ignore"] += c
        elif 0 <= k < n:
            hist[k] += c
        else:
            hist[-1] += c
    if m.art is not None:
        hist[-1] += m.art.pixels
    m.class_hist = dict(hist)
    foreground = any(isinstance(k, int) and k > 0 and c for k, c in hist.items())
    if m.family in ("index", "color") and not foreground and not hist.get(-1):
        m.family = "empty"


def infer_from_values(values, colors=(), palette: np.ndarray | None = None, read: int = 1) -> Project:
    """The classes for the stored values a dataset's masks hold (damage and outliers already left out).

    ``values``: stored grey/index values seen; ``colors``: ``(r, g, b)`` colours seen
    in colour masks; ``palette``: the ``(256, 3)`` palette of a palette mask, if any;
    ``read``: how many masks were read (0 → two default classes).
    """
    values = {int(v) for v in values}
    colors = {tuple(int(x) for x in c) for c in colors}
    notes = []
    if read == 0:
        return Project(
            classes=(ClassInfo("background", (0, 0, 0)), ClassInfo("foreground", (128, 0, 0))),
            inferred=True,
            notes=("No readable mask found: two classes assumed (background, foreground).",),
        )
    if colors and not values:
        ordered = sorted(colors, key=lambda c: (c != (0, 0, 0), sum(c), c))[:MAX_CLASSES]
        classes = tuple(
            ClassInfo("background" if c == (0, 0, 0) else f"class {i} #{c[0]:02x}{c[1]:02x}{c[2]:02x}", c)
            for i, c in enumerate(ordered)
        )
        notes.append(f"Colour masks: {len(ordered)} colours found, one class per colour (black is background).")
        return Project(classes=classes, label_map={c: i for i, c in enumerate(ordered)}, ignore_index=None,
                       inferred=True, notes=tuple(notes))

    if values <= {0, 255} or (values <= {0, 1, 255} and 1 not in values):
        classes = (ClassInfo("background", (0, 0, 0)), ClassInfo("foreground", (128, 0, 0)))
        notes.append("Masks hold only 0 and 255: two classes assumed, 255 = foreground (see the binary-255 finding).")
        return Project(classes=classes, ignore_index=None, inferred=True, notes=tuple(notes))

    ignore = 255 if 255 in values else None
    used = sorted(v for v in values if v != ignore)
    n = (max(used) + 1) if used else 2
    n = max(2, min(n, MAX_CLASSES))
    colors_table = default_colors(max(n, 256))
    if palette is not None:
        colors_table = [tuple(int(x) for x in palette[i]) for i in range(256)] + colors_table[256:]
    voc = palette is not None and all(
        tuple(palette[i]) == default_colors(21)[i] for i in range(min(21, len(palette)))
    )
    if voc and n <= 21:
        n = 21
        names = list(VOC_CLASS_NAMES)
        notes.append("Palette masks with the Pascal VOC colour map: the 21 VOC classes assumed.")
    else:
        names = ["background"] + [f"class {i}" for i in range(1, n)]
        notes.append(f"Index masks with values {_fmt_values(used)}: {n} classes assumed (0..{n - 1}).")
    if ignore is not None:
        notes.append("255 is taken as ignore/void (the Pascal VOC convention).")
    classes = tuple(ClassInfo(names[i], colors_table[i]) for i in range(n))
    return Project(classes=classes, ignore_index=ignore if ignore is not None else 255, inferred=True, notes=tuple(notes))


def _fmt_values(values) -> str:
    values = list(values)
    if len(values) > 12:
        return ", ".join(str(v) for v in values[:12]) + ", …"
    return ", ".join(str(v) for v in values) or "none"
