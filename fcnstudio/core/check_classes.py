"""How stored mask values become classes: encodings, 255 as void, inferred classes, statistics.

Part of the checker's judgement (:mod:`fcnstudio.core.check_rules` builds the
findings). Everything here works on the small per-mask summaries of
:mod:`fcnstudio.core.mask_stats`, never on pixels. The rules are listed in
:mod:`fcnstudio.core.check_rules`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from . import encodings as enc
from . import palettes
from .artefacts import MIN_ARTEFACT_SHARE, MIN_ARTEFACT_VALUES, Artefacts
from .mask_stats import MaskSummary
from .project import Project, infer_from_values


@dataclass(frozen=True)
class DatasetStats:
    """Dataset-level numbers, in class-index space (the project's label map applied).

    ``class_fraction[c]`` is the share of labelled (not ignored) pixels in class
    ``c``; ``images_with_class[c]`` the number of masks containing it;
    ``suggested_weights`` median-frequency balancing (Eigen & Fergus): the
    frequency of a class is its pixels over the pixels of the masks that contain
    it, and its weight is the median frequency over its own (0 for a class that
    appears nowhere). 0/255 masks count 255 as class 1; colour and luminance
    masks count their colours' classes; damaged pixels are not counted.
    """

    pairs: int = 0
    images: int = 0
    masks: int = 0
    class_names: tuple[str, ...] = ()
    class_pixels: tuple[int, ...] = ()
    class_fraction: tuple[float, ...] = ()
    images_with_class: tuple[int, ...] = ()
    suggested_weights: tuple[float, ...] = ()
    labelled_pixels: int = 0
    ignored_pixels: int = 0
    #: Pixels whose value maps to no class (out of range, damaged).
    unmapped_pixels: int = 0
    image_shapes: dict = field(default_factory=dict)
    mask_shapes: dict = field(default_factory=dict)
    image_formats: dict = field(default_factory=dict)
    #: How the masks store classes ("index", "0/255", "palette index", "rgb", ...) → count.
    encodings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EncodingInfo:
    """How the checker read stored values as classes; the fixes write with the same reading."""

    #: Packed colour (0xRRGGBB) → class index, for colour masks.
    color_map: dict = field(default_factory=dict)
    #: "project", "voc", "palette" or "order" (see :func:`fcnstudio.core.encodings.color_index_map`).
    color_source: str = ""
    #: Name of the luminance table when grey masks are palette brightnesses, else None.
    luminance: str | None = None
    #: The whole match (conversion, grey → class table, palette) behind ``luminance``.
    luminance_match: tuple | None = None
    #: Whether 255 is void (ignore) in this dataset.
    void255: bool = False


@dataclass
class MaskView:
    """A readable mask and what the rules decided about it."""

    s: MaskSummary
    values: dict[int, int]  # value (or packed colour) → pixels, damaged values left out
    art: Artefacts | None = None  # the damage, after the dataset-wide second look
    family: str = "index"  # index | binary | color | luminance | float | empty
    encoding: str = ""  # the label shown in the statistics
    codes: list = field(default_factory=list)
    class_hist: dict = field(default_factory=dict)


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


def clean_values(s: MaskSummary, art: Artefacts | None) -> dict[int, int]:
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


def dataset_stats(summaries, masks: list[MaskView], project: Project) -> DatasetStats:
    n = project.num_classes
    pixels = np.zeros(n, np.int64)
    images = np.zeros(n, np.int64)
    image_pixels = np.zeros(n, np.int64)  # labelled pixels of the masks containing each class
    ignored = unmapped = 0
    encodings: Counter = Counter()
    for m in masks:
        encodings[m.encoding or m.family] += 1
        labelled = sum(c for k, c in m.class_hist.items() if isinstance(k, int) and k >= 0)
        for k, c in m.class_hist.items():
            if k == "ignore":
                ignored += c
            elif k == -1:
                unmapped += c
            elif c:
                pixels[k] += c
                images[k] += 1
                image_pixels[k] += labelled
    total = int(pixels.sum())
    frac = pixels / total if total else np.zeros(n)
    freq = np.where(image_pixels > 0, pixels / np.maximum(image_pixels, 1), 0.0)
    present = freq > 0
    weights = np.zeros(n)
    if present.any():
        med = float(np.median(freq[present]))
        weights[present] = med / freq[present]
    ims = [p.image for p in summaries if p.image is not None and not p.image.error]
    return DatasetStats(
        pairs=len(summaries),
        images=sum(1 for p in summaries if p.image is not None),
        masks=sum(1 for p in summaries if p.mask is not None),
        class_names=tuple(project.class_names),
        class_pixels=tuple(int(x) for x in pixels),
        class_fraction=tuple(round(float(x), 6) for x in frac),
        images_with_class=tuple(int(x) for x in images),
        suggested_weights=tuple(round(float(x), 4) for x in weights),
        labelled_pixels=total,
        ignored_pixels=int(ignored),
        unmapped_pixels=int(unmapped),
        image_shapes=dict(Counter(f"{im.height}x{im.width}" for im in ims).most_common(50)),
        mask_shapes=dict(Counter(f"{m.s.height}x{m.s.width}" for m in masks).most_common(50)),
        image_formats=dict(Counter(f"{im.format} {im.channels}ch {im.dtype}" for im in ims).most_common(20)),
        encodings=dict(encodings.most_common()),
    )
