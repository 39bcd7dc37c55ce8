"""Public colour palettes, and recognising a grey mask that holds their brightnesses.

A colour mask (Cityscapes' ``*_gtFine_color.png``, CamVid's ``*_L.png``, an
ADE20K rendering) read with ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` or
Pillow's ``convert("L")`` stores the *brightness* of each class colour, not
the class index. :func:`match_luminance` names the palette whose brightnesses
explain every grey value of the dataset; the colour-mask fix maps them back to
that palette's class indices (its own class order).

Palettes (colours copied from their official sources, never guessed):

- Pascal VOC: :func:`fcnstudio.core.io.default_colors` (the VOC bit-reversal
  colour map); its luminance tables stay in :mod:`fcnstudio.core.encodings`.
- Cityscapes: ``cityscapesScripts/cityscapesscripts/helpers/labels.py``
  (mcordts/cityscapesScripts): the 34 label ids 0..33 (``labelIds`` order;
  the five black void labels share id 0's colour, pole and polegroup share
  one colour) and the 19 train classes (``trainId`` order, black = 255 void).
- CamVid 32 classes: the dataset's ``label_colors.txt`` (mi.eng.cam.ac.uk
  CamVid page), in its (alphabetical) order, Void = index 30.
- CamVid 11 classes: SegNet's ``Scripts/test_segmentation_camvid.py``
  (alexgkendall/SegNet-Tutorial), Sky = 0 … Bicyclist = 10, Unlabelled = 11.
- ADE20K: the first 20 of the 150 SceneParsing classes, colours from
  ``mmseg/datasets/ade.py`` (open-mmlab/mmsegmentation, = CSAIL's
  ``color150``); 0 is "other" (black), as in the annotation PNGs.

A palette of a dataset's own (the colours of its colour masks or of its
palette PNGs) is tried first: a grey mask next to colour masks is most likely
those colours read as grey.

False alarms: every non-zero grey value must be a brightness of the palette,
none below 13 (small values are class indices; a public palette may have one,
among four or more values: Cityscapes' car is 10 in BT.709), and the largest
at least 30. VOC needs two distinct values, as before; the other palettes
three, and public palettes need exact brightnesses (no ±1 slack; among several
that fit, the smallest wins), so a plain index mask is not taken for one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import encodings as enc
from ..project import ClassInfo

#: (name, RGB) per class index.
Classes = tuple[tuple[str, tuple[int, int, int]], ...]


class Palette(NamedTuple):
    label: str  # as the finding's message names it
    classes: Classes
    #: colour of pixels that are void (ignore 255), if the palette has one
    void: tuple[int, int, int] | None = None


class LuminanceMatch(NamedTuple):
    """What :func:`match_luminance` found; indexable like the (name, table) pairs of ``encodings``."""

    name: str  # the RGB → grey conversion
    table: dict  # grey value → class index
    palette: Palette | None  # None: Pascal VOC (handled by the existing VOC code)


_CITYSCAPES_LABELS = (  # (name, id, trainId, colour): labels.py, ids 0..33
    ("unlabeled", 0, 255, (0, 0, 0)), ("ego vehicle", 1, 255, (0, 0, 0)),
    ("rectification border", 2, 255, (0, 0, 0)), ("out of roi", 3, 255, (0, 0, 0)),
    ("static", 4, 255, (0, 0, 0)), ("dynamic", 5, 255, (111, 74, 0)), ("ground", 6, 255, (81, 0, 81)),
    ("road", 7, 0, (128, 64, 128)), ("sidewalk", 8, 1, (244, 35, 232)), ("parking", 9, 255, (250, 170, 160)),
    ("rail track", 10, 255, (230, 150, 140)), ("building", 11, 2, (70, 70, 70)), ("wall", 12, 3, (102, 102, 156)),
    ("fence", 13, 4, (190, 153, 153)), ("guard rail", 14, 255, (180, 165, 180)), ("bridge", 15, 255, (150, 100, 100)),
    ("tunnel", 16, 255, (150, 120, 90)), ("pole", 17, 5, (153, 153, 153)), ("polegroup", 18, 255, (153, 153, 153)),
    ("traffic light", 19, 6, (250, 170, 30)), ("traffic sign", 20, 7, (220, 220, 0)),
    ("vegetation", 21, 8, (107, 142, 35)), ("terrain", 22, 9, (152, 251, 152)), ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)), ("rider", 25, 12, (255, 0, 0)), ("car", 26, 13, (0, 0, 142)),
    ("truck", 27, 14, (0, 0, 70)), ("bus", 28, 15, (0, 60, 100)), ("caravan", 29, 255, (0, 0, 90)),
    ("trailer", 30, 255, (0, 0, 110)), ("train", 31, 16, (0, 80, 100)), ("motorcycle", 32, 17, (0, 0, 230)),
    ("bicycle", 33, 18, (119, 11, 32)),
)

CITYSCAPES_34 = Palette("Cityscapes (34 label ids)", tuple((n, c) for n, _, _, c in _CITYSCAPES_LABELS))
CITYSCAPES_19 = Palette(
    "Cityscapes (19 train classes)",
    tuple((n, c) for n, _, t, c in sorted(_CITYSCAPES_LABELS, key=lambda x: x[2]) if t != 255),
    void=(0, 0, 0),
)

CAMVID_32 = Palette("CamVid (32 classes)", (
    ("Animal", (64, 128, 64)), ("Archway", (192, 0, 128)), ("Bicyclist", (0, 128, 192)), ("Bridge", (0, 128, 64)),
    ("Building", (128, 0, 0)), ("Car", (64, 0, 128)), ("CartLuggagePram", (64, 0, 192)), ("Child", (192, 128, 64)),
    ("Column_Pole", (192, 192, 128)), ("Fence", (64, 64, 128)), ("LaneMkgsDriv", (128, 0, 192)),
    ("LaneMkgsNonDriv", (192, 0, 64)), ("Misc_Text", (128, 128, 64)), ("MotorcycleScooter", (192, 0, 192)),
    ("OtherMoving", (128, 64, 64)), ("ParkingBlock", (64, 192, 128)), ("Pedestrian", (64, 64, 0)),
    ("Road", (128, 64, 128)), ("RoadShoulder", (128, 128, 192)), ("Sidewalk", (0, 0, 192)),
    ("SignSymbol", (192, 128, 128)), ("Sky", (128, 128, 128)), ("SUVPickupTruck", (64, 128, 192)),
    ("TrafficCone", (0, 0, 64)), ("TrafficLight", (0, 64, 64)), ("Train", (192, 64, 128)), ("Tree", (128, 128, 0)),
    ("Truck_Bus", (192, 128, 192)), ("Tunnel", (64, 0, 64)), ("VegetationMisc", (192, 192, 0)), ("Void", (0, 0, 0)),
    ("Wall", (64, 192, 0)),
))

CAMVID_11 = Palette("CamVid (11 classes, SegNet)", (
    ("Sky", (128, 128, 128)), ("Building", (128, 0, 0)), ("Pole", (192, 192, 128)), ("Road", (128, 64, 128)),
    ("Pavement", (60, 40, 222)), ("Tree", (128, 128, 0)), ("SignSymbol", (192, 128, 128)), ("Fence", (64, 64, 128)),
    ("Car", (64, 0, 128)), ("Pedestrian", (64, 64, 0)), ("Bicyclist", (0, 128, 192)), ("Unlabelled", (0, 0, 0)),
))

ADE20K_20 = Palette("ADE20K (first 20 classes)", (
    ("other", (0, 0, 0)), ("wall", (120, 120, 120)), ("building", (180, 120, 120)), ("sky", (6, 230, 230)),
    ("floor", (80, 50, 50)), ("tree", (4, 200, 3)), ("ceiling", (120, 120, 80)), ("road", (140, 140, 140)),
    ("bed", (204, 5, 255)), ("windowpane", (230, 230, 230)), ("grass", (4, 250, 7)), ("cabinet", (224, 5, 255)),
    ("sidewalk", (235, 255, 7)), ("person", (150, 5, 61)), ("earth", (120, 120, 70)), ("door", (8, 255, 51)),
    ("table", (255, 6, 82)), ("mountain", (143, 255, 140)), ("plant", (204, 255, 4)), ("curtain", (255, 51, 7)),
    ("chair", (204, 70, 3)),
))

#: Tried in this order; among those that explain the values, the smallest wins.
PUBLIC_PALETTES = (CITYSCAPES_19, CITYSCAPES_34, CAMVID_11, CAMVID_32, ADE20K_20)

#: RGB → grey conversions: (name, functions giving the grey value of r, g, b).
CONVERSIONS = (
    ("BT.601 (OpenCV/Pillow greyscale)", (enc._bt601_cv, enc._bt601_pil)),
    ("BT.709 (scikit-image rgb2gray)", (enc._bt709,)),
)

#: Values of a luminance palette note; :func:`declares_classes` looks for it.
_NOTE_TAIL = "classes assumed in the palette's order."


def luminance_table(colors, fns) -> dict[int, int]:
    """Grey value → class index for ``colors`` (index → RGB); a shared brightness goes to the lower index."""
    table: dict[int, int] = {}
    for idx, rgb in sorted(colors.items()):
        for fn in fns:
            table.setdefault(int(fn(*rgb)), idx)
    return table


def _palette_tables(p: Palette):
    colors = {i: c for i, (_, c) in enumerate(p.classes)}
    if p.void is not None:
        colors[enc.VOC_VOID] = p.void
    return [(name, luminance_table(colors, fns)) for name, fns in CONVERSIONS]


def revealed_palette(masks) -> Palette | None:
    """The palette the dataset's own colour masks (or, without any, its palette PNGs) show, unless it is VOC's.

    Class indices as the checker gives those colour masks
    (:func:`fcnstudio.core.encodings.color_index_map` over the same colours),
    so grey and colour masks of one dataset end up with the same classes.
    """
    colors: set[int] = set()
    palette_colors: dict[int, int] = {}
    for m in masks:
        if m.s.kind == "color":
            colors |= set(m.values)
        for idx, rgb in m.s.palette_used:
            palette_colors.setdefault(enc.pack(rgb), idx)
    chromatic = {k for k in colors if len(set(enc.unpack(k))) > 1}
    if len(chromatic) >= 2:
        cmap, how = enc.color_index_map(colors, palette_colors)
    elif not colors and len(palette_colors) >= 2:
        cmap, how = palette_colors, "palette"
    else:
        return None
    if how == "voc" or all(k in enc.VOC_COLORS for k in cmap):
        return None
    by_index: dict[int, tuple[int, int, int]] = {}
    for key, idx in sorted(cmap.items()):
        by_index.setdefault(idx, enc.unpack(key))
    if max(by_index) >= 256:
        return None
    classes = tuple((f"class {i}", by_index.get(i, (0, 0, 0))) for i in range(max(by_index) + 1))
    return Palette("the dataset's own colour masks", classes)


def match_luminance(values, masks=()) -> LuminanceMatch | None:
    """The palette whose brightnesses explain every non-zero grey value (see the module doc).

    Order: the dataset's own palette (±1); VOC's, exactly; a public palette,
    exactly (the smallest that fits); VOC's with ±1 for rounding.
    """
    vals = sorted({int(v) for v in values if int(v) != 0})
    if len(vals) < 2 or vals[-1] < 30 or sum(v < 13 for v in vals) > (0 if len(vals) < 4 else 1):
        return None
    if vals[0] < 13:  # one dark class colour (Cityscapes' car is 10 in BT.709): exact public palettes only
        return _public_match(vals)
    own = revealed_palette(masks)
    if own is not None and len(vals) >= 3:
        for name, table in _palette_tables(own):
            if all(enc.luminance_class(v, table) is not None for v in vals):
                return LuminanceMatch(name, table, own)
    voc = enc.match_luminance(vals)
    if voc is not None and all(v in voc[1] for v in vals):
        return LuminanceMatch(voc[0], voc[1], None)
    public = _public_match(vals)
    if public is not None:
        return public
    return LuminanceMatch(voc[0], voc[1], None) if voc is not None else None


def _public_match(vals: list[int]) -> LuminanceMatch | None:
    """The smallest public palette whose exact brightnesses hold every value (three values at least)."""
    fits = [LuminanceMatch(name, table, p) for p in PUBLIC_PALETTES for name, table in _palette_tables(p)
            if all(v in table for v in vals)] if len(vals) >= 3 else []
    return min(fits, key=lambda m: len(m.palette.classes)) if fits else None


def palette_label(lum, voc: str = "Pascal VOC") -> str:
    """How messages name the palette of a luminance match (``voc``, "Cityscapes (19 train classes)", …)."""
    palette = getattr(lum, "palette", None)
    return palette.label if palette is not None else voc


def luminance_palette(lum) -> tuple[np.ndarray, str]:
    """The (256, 3) colour table of the matched palette, and the note saying so (the checker's inferred classes)."""
    palette = getattr(lum, "palette", None)
    if palette is None:
        return (np.asarray(enc.default_colors(256), np.uint8),
                f"Grey values are brightnesses of Pascal VOC colours ({lum[0]}): VOC classes assumed.")
    table = np.asarray(enc.default_colors(256), np.uint8)
    for i, (_, rgb) in enumerate(palette.classes[:256]):
        table[i] = rgb
    if palette.void is not None:
        table[enc.VOC_VOID] = palette.void
    return table, f"Grey values are brightnesses of {palette.label} colours ({lum[0]}): its {_NOTE_TAIL}"


def name_classes(project, lum):
    """The inferred project with the matched palette's classes (all of them, named), unchanged for VOC."""
    palette = getattr(lum, "palette", None)
    if palette is None or palette.label.startswith("the dataset's"):
        return project
    n = max(len(palette.classes), project.num_classes)
    classes = tuple(ClassInfo(*palette.classes[i]) if i < len(palette.classes) else project.classes[i] for i in range(n))
    notes = tuple(x for x in project.notes if not x.startswith("Index masks with values"))
    ignore = enc.VOC_VOID if palette.void is not None else project.ignore_index
    return project.with_changes(classes=classes, notes=notes, ignore_index=ignore)


def declares_classes(project) -> bool:
    """Whether a public palette named the inferred classes (class-absent, not label-gaps, applies)."""
    return project.inferred and any(n.endswith(_NOTE_TAIL) and "dataset's own" not in n for n in project.notes)
