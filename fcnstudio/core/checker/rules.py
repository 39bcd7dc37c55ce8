"""From per-pair summaries to findings and statistics: the checker's judgement.

:func:`evaluate` reads the small :class:`~fcnstudio.core.checker.pair_stats.PairSummary`
of every pair (pixel data never reaches this module) and decides, with the
whole dataset in view, what is wrong. Dataset context matters: a ``{0, 255}``
mask is a binary-255 defect in a binary dataset but a "nothing labelled, some
void" mask in a Pascal VOC style dataset, where 255 is void.

Rules, in the order they are applied (the DESIGN.md table names the codes):

- **255 as void.** 255 means void (ignore) when the project says so through
  ``ignore_index`` *and* some mask holds 255 together with class values 1..254
  (the VOC / torchvision convention), or, without a project file, when some
  mask does. Then 255 is reported once as ``ignore-border-255`` (info).
- **binary-255.** A mask whose values (ignoring damaged pixels) are ``{0, 255}``
  or ``{0, 65535}`` — unless 255 is void as above or the project's label map
  maps 255 to a class.
- **color-mask.** RGB(A) masks (unless the project's colour label map names
  every colour), and grey masks whose values are all brightnesses of Pascal
  VOC colours (see :mod:`fcnstudio.core.checker.encodings`), judged over the dataset.
- **lossy-mask / interpolation-artifacts.** JPEG files are lossy. Other masks
  carry a verdict from :func:`fcnstudio.core.checker.artefacts.artefacts`, reconsidered
  over the dataset (:func:`fcnstudio.core.checker.classes.second_look`).
- **label-out-of-range.** With a project file: values ≥ number of classes
  (other than ``ignore_index``) or negative. Without one, the classes are
  inferred from every mask, so only negative values and *outliers* count: the
  values above a jump (next value > 2 × previous + 8) when they occur in at
  most 10 % of the masks (of at least ten).
- **class-absent** when classes are declared (a project file or a VOC palette),
  **label-gaps** when they were inferred — never both.
- **empty-mask, ignore-border-255, mask-16bit** are reported once for the
  dataset, listing the files, with the count in the message.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from . import encodings as enc
from . import palettes
from .classes import MaskView, color_map_of, map_classes, read_classes
from .findings import FIXABLE, SEVERITY, Finding
from .pair_stats import PairSummary
from ..project import Project
from .result import EncodingInfo
from .stats import DatasetStats, dataset_stats

#: A present class below this share of the labelled pixels is reported as imbalanced.
IMBALANCE_SHARE = 0.01

_ROTATIONS = {3: "180°", 5: "90° and mirrored", 6: "90°", 7: "90° and mirrored", 8: "90°", 2: "mirrored", 4: "mirrored"}


def _finding(code: str, path: str, message: str, files=(), location=None, **data) -> Finding:
    return Finding(
        code=code,
        severity=SEVERITY[code],
        path=path,
        message=message,
        fix=code if code in FIXABLE else None,
        files=tuple(files) if files else ((path,) if path else ()),
        location=location,
        data=data,
    )


def _fmt(values, limit: int = 8, total: int | None = None) -> str:
    """``1, 2, 3 … (40 in all)``: the first ``limit`` values, and how many there are (``total`` if given)."""
    values = list(values)
    total = len(values) if total is None else total
    s = ", ".join(str(v) for v in values[:limit])
    return s + (f" … ({total} in all)" if total > min(limit, len(values)) else "")


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _pct(x: float) -> str:
    if x == 0:
        return "0 %"
    return f"{x * 100:.2g} %" if x < 0.01 else f"{x * 100:.1f} %"


# ---------------------------------------------------------------- entry point


def evaluate(
    summaries: list[PairSummary], declared: Project | None
) -> tuple[Project, list[Finding], DatasetStats, EncodingInfo]:
    """Findings and statistics for a dataset from its pair summaries.

    ``declared`` is the project from fcnstudio.json (or one the caller insists
    on); None means infer the classes from the masks themselves.
    """
    findings = _pair_findings(summaries)
    reading = read_classes([p.mask for p in summaries if p.mask is not None], declared)
    project, masks, void255, lum, outliers = (reading.project, reading.masks, reading.void255, reading.lum,
                                              reading.outliers)
    cmap, source = color_map_of(masks, project)
    for m in masks:
        map_classes(m, project, void255, lum, cmap)
    findings += _mask_findings(masks, project, void255, lum, outliers, declared is not None)
    findings += _dataset_findings(summaries, masks, project, void255, declared is not None)
    stats = dataset_stats(summaries, masks, project)
    findings += _class_findings(masks, project, stats, declared is not None or _voc_declared(masks, project))
    info = EncodingInfo(color_map=cmap, color_source=source, luminance=lum[0] if lum else None, void255=void255,
                        luminance_match=lum)
    return project, findings, stats, info


# ---------------------------------------------------------------- per pair


def _pair_findings(summaries: list[PairSummary]) -> list[Finding]:
    out = []
    for p in summaries:
        im, ms = p.image, p.mask
        if im is None and ms is not None:
            out.append(_finding("missing-image", ms.path, f"{ms.path} has no image with the same name: the mask cannot be used for training (add the image or remove the mask)."))
        if ms is None and im is not None:
            out.append(_finding("missing-mask", im.path, f"{im.path} has no mask: the image cannot be used for training, and a loader that expects one mask per image crashes on it."))
        for part in (im, ms):
            if part is not None and part.error:
                reason = part.error.split(": ", 1)[-1].rstrip(".")
                out.append(_finding("unreadable", part.path, f"{part.path}: {reason}: a data loader would crash on this file in the middle of training."))
        if im is not None and not im.error:
            out += _image_findings(im)
        if ms is not None and not ms.error and ms.exif_orientation != 1:
            rot = _ROTATIONS.get(ms.exif_orientation, "")
            out.append(_finding("exif-rotation", ms.path, f"mask carries EXIF orientation {ms.exif_orientation} ({rot}): viewers and OpenCV rotate it, Pillow does not, so it may not line up with its image.", orientation=ms.exif_orientation))
        if im is None or ms is None or im.error or ms.error:
            continue
        if (im.height, im.width) != (ms.height, ms.width):
            out.append(_shape_finding(im, ms))
    return out


def _image_findings(im) -> list[Finding]:
    out = []
    if im.nonfinite:
        out.append(_finding("nan-image", im.path, f"{im.path} holds {im.nonfinite} NaN/Inf values: they propagate through the network and turn the loss into NaN."))
    elif im.constant is not None:
        out.append(_finding("constant-image", im.path, f"{im.path} has the value {im.constant:g} everywhere: there is nothing to learn from it (a failed export or a blank scan?)."))
    if im.exif_orientation != 1:
        rot = _ROTATIONS.get(im.exif_orientation, "")
        out.append(_finding("exif-rotation", im.path, f"{im.path} carries EXIF orientation {im.exif_orientation} ({rot}): OpenCV rotates it on read and Pillow does not, so depending on the loader the image and its mask are misaligned.", orientation=im.exif_orientation))
    return out


def _shape_finding(im, ms) -> Finding:
    rotated = (im.height, im.width) == (ms.width, ms.height)
    msg = f"image {im.path} is {im.width}x{im.height} but mask {ms.path} is {ms.width}x{ms.height}"
    if rotated:
        msg += " (rotated: width and height are swapped"
        if im.exif_orientation in (5, 6, 7, 8):
            msg += f"; the image's EXIF orientation {im.exif_orientation} turns it by 90°, so the mask was drawn on the rotated view"
        msg += ")"
    msg += ": labels would not line up with pixels, and cropping both the same way crashes or teaches the wrong places."
    return _finding("shape-mismatch", im.path, msg, files=(im.path, ms.path), rotated=rotated)


# ---------------------------------------------------------------- encodings


# ---------------------------------------------------------------- per mask findings


def _mask_findings(masks: list[MaskView], project: Project, void255: bool, lum, outliers: set[int], declared: bool) -> list[Finding]:
    out = []
    n = project.num_classes
    for m in masks:
        s = m.s
        for code in m.codes:
            out.append(_mask_code_finding(code, m, project, lum, declared))
        if m.family == "index" and s.kind == "int":
            bad = _out_of_range(m, project, void255, outliers, declared)
            if bad:
                limit = f"the {n} classes (0..{n - 1})" if declared or not outliers else f"the {n} classes the other masks use (0..{n - 1})"
                extra = f", ignore {project.ignore_index}" if project.ignore_index is not None and declared else ""
                out.append(_finding(
                    "label-out-of-range", s.path,
                    f"{s.path} holds values {_fmt(bad)} outside {limit}{extra}: cross-entropy crashes "
                    "(a device-side assert on GPU) or trains on garbage labels.",
                    values=list(bad),
                ))
    return out


def _out_of_range(m: MaskView, project: Project, void255: bool, outliers: set[int], declared: bool) -> list[int]:
    vmap = project.value_map
    bad = []
    for v in sorted(m.values):
        if v < 0:
            bad.append(v)
            continue
        if void255 and v == 255:
            continue
        k = vmap.get(v, v)
        if declared:
            if not (0 <= k < project.num_classes) and k != project.ignore_index:
                bad.append(v)
        elif v in outliers:
            bad.append(v)
    return bad


def _mask_code_finding(code: str, m: MaskView, project: Project, lum, declared: bool) -> Finding:
    s = m.s
    p = s.path
    art = m.art
    loc = art.location if art is not None else None
    if code == "non-integer-mask":
        if s.nonfinite:
            msg = f"{p} is a float mask with {s.nonfinite} NaN/Inf values: they are no class, and the loss becomes NaN."
        elif s.float_dev > 1e-3:
            msg = (f"{p} is a float ({s.dtype}) mask with values that are not whole numbers (up to {s.float_dev:.3g} "
                   "from an integer — a soft or probability mask?): they cannot be class indices; threshold them.")
        else:
            msg = (f"{p} stores whole-number classes as {s.dtype}: class-index losses need integers, so loaders "
                   "fail or silently truncate; store them as 8-bit indices.")
        return _finding(code, p, msg, dev=s.float_dev, nonfinite=s.nonfinite)
    if code == "color-mask":
        if m.family == "luminance":
            vals = sorted(v for v in m.values if v)
            msg = (f"{p} holds grey values {_fmt(vals)}, the brightnesses of {palettes.palette_label(lum)} colours ({lum[0]}): a palette "
                   "mask was read or saved as greyscale, so the values are not class indices.")
            return _finding(code, p, msg, kind="luminance", table=lum[0])
        if s.grey_rgb:
            msg = (f"{p} is a grey mask stored as RGB (three equal channels, values {_fmt(sorted(enc.unpack(k)[0] for k in m.values))}): "
                   "a loader expecting one class index per pixel gets three channels.")
        else:
            cols = [enc.hex_color(k) for k in sorted(m.values, key=lambda k: -m.values[k])]
            msg = (f"{p} is a colour ({'RGBA' if s.channels == 4 else 'RGB'}) mask with {len(cols)} colours ({_fmt(cols, 5)}): "
                   "the network needs one class index per pixel, not three colour values.")
        return _finding(code, p, msg, kind="rgb")
    if code == "binary-255":
        top = 65535 if 65535 in m.values else 255
        share = m.values.get(top, 0) / max(1, s.pixels)
        solid = f", {_pct(s.solid_top)} of it in solid regions" if s.solid_top is not None else ""
        ign = ""
        if declared and project.ignore_index == top:
            ign = f" (and {top} is the project's ignore_index, so the foreground would be ignored)"
        msg = (f"{p} is a two-class mask stored as 0/{top} ({top} covers {_pct(share)} of it{solid}): with 2 classes the value "
               f"{top} is out of range{ign} — cross-entropy crashes, or treats {top} as ignore and the network learns to predict only zeros.")
        return _finding(code, p, msg, top=top)
    shown = [enc.hex_color(v) for v in art.values] if art is not None and s.kind == "color" else (art.values if art else ())
    kind = "colours" if s.kind == "color" else "values"
    if code == "lossy-mask":
        if s.format == "JPEG":
            extra = f" — {art.n_values} stray {kind} already ({_fmt(shown, 6, art.n_values)})" if art and art.n_values else ""
            msg = (f"{p} is saved as JPEG: lossy compression changes values around every class edge{extra}, "
                   "and those pixels get wrong or out-of-range labels.")
        else:
            msg = (f"{p} has {art.n_values} rare {kind} ({_fmt(shown, 6, art.n_values)}) scattered around its class {kind}, like JPEG noise "
                   f"({art.pixels} pixels{'; ' + art.evidence if art.evidence else ''}): the mask was saved lossily at some point and these pixels carry wrong labels.")
        return _finding(code, p, msg, location=loc, dominant=sorted(m.values) if s.kind == "int" else None)
    if code == "interpolation-artifacts":
        msg = (f"{p} has {art.n_values} in-between {kind} ({_fmt(shown, 6, art.n_values)}, {art.pixels} pixels) along class boundaries "
               f"({art.evidence or 'monotone in-between values only on borders'}): the mask was resized or drawn with a smooth filter, so edge pixels get classes that are not there; "
               "resize masks with nearest-neighbour.")
        return _finding(code, p, msg, location=loc, dominant=sorted(m.values) if s.kind == "int" else None)
    raise ValueError(code)


# ---------------------------------------------------------------- dataset findings


def _dataset_findings(summaries, masks: list[MaskView], project: Project, void255: bool, declared: bool) -> list[Finding]:
    out = []
    families = Counter(m.family for m in masks if m.family in ("index", "binary", "color", "luminance"))
    if len(families) >= 2:
        names = {"index": "class-index masks", "binary": "0/255 masks", "color": "colour masks", "luminance": "grey-palette masks"}
        target = "index" if "index" in families else families.most_common(1)[0][0]
        odd = [m.s.path for m in masks if m.family in families and m.family != target]
        parts = ", ".join(f"{c} {names[f]}" for f, c in families.most_common())
        out.append(_finding(
            "inconsistent-encoding", "",
            f"masks store classes in different ways ({parts}): the same class has different values in different "
            f"files, so the network is taught contradicting labels; {len(odd)} masks differ from the {names[target]}.",
            files=odd, families={m.s.path: m.family for m in masks if m.s.path in set(odd)},
        ))
    empty = [m.s.path for m in masks if m.family == "empty"]
    if empty:
        share = len(empty) / max(1, len(masks))
        out.append(_finding(
            "empty-mask", "",
            f"{len(empty)} of {len(masks)} masks ({_pct(share)}) {'is' if len(empty) == 1 else 'are'} all background: fine in moderation, but many "
            "empty masks push the network towards predicting only background.",
            files=empty, count=len(empty),
        ))
    voids = [m for m in masks if m.s.kind == "int" and m.family in ("index", "empty") and 255 in m.values]
    if voids and (void255 or (declared and project.ignore_index == 255 and 255 not in project.value_map)):
        solid = [m.s.solid_top for m in voids if m.s.solid_top is not None]
        shape = "thin bands along class borders" if solid and float(np.median(solid)) < 0.5 else "regions and borders"
        out.append(_finding(
            "ignore-border-255", "",
            f"255 marks void pixels in {len(voids)} masks ({shape}), the Pascal VOC convention: train with "
            "ignore_index=255 and do not treat 255 as a class.",
            files=[m.s.path for m in voids],
        ))
    wide = [m.s.path for m in masks if m.s.dtype == "uint16" and m.s.kind == "int" and m.values and max(m.values) < 256]
    if wide:
        out.append(_finding(
            "mask-16bit", "",
            f"{_n(len(wide), 'mask is', 'masks are')} 16-bit although every value fits in 8 bits: tools that read them as 8-bit "
            "(OpenCV's default flag) keep the high byte and see all zeros.",
            files=wide,
        ))
    images = [p.image for p in summaries if p.image is not None and not p.image.error]
    label = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}
    out += _mixed(images, "channels", "image-channels-mixed", lambda k: label.get(k, k),
                  "channels", "batching fails or the network sees some images in another input format.")
    out += _mixed(images, "dtype", "image-depth-mixed", str, "bit depth",
                  "their value ranges differ (255 vs 65535), so without per-image normalisation some look black or "
                  "saturated.")
    return out


def _mixed(images, attr: str, code: str, name, what: str, why: str) -> list[Finding]:
    """``code`` when the images differ in ``attr``, naming the images that are not like most."""
    kinds = Counter(getattr(im, attr) for im in images)
    if len(kinds) < 2:
        return []
    major = kinds.most_common(1)[0][0]
    return [_finding(
        code, "", f"images differ in {what} (" + ", ".join(f"{c} {name(k)}" for k, c in kinds.most_common()) + f"): {why}",
        files=[im.path for im in images if getattr(im, attr) != major],
    )]


def _voc_declared(masks: list[MaskView], project: Project) -> bool:
    return palettes.declares_classes(project) or project.inferred and project.num_classes == 21 and any(
        m.s.palette == "voc" or m.family == "luminance" or (m.s.kind == "color" and m.family != "empty") for m in masks
    ) and any("VOC" in n for n in project.notes)


def _class_findings(masks: list[MaskView], project: Project, stats: DatasetStats, declared: bool) -> list[Finding]:
    out = []
    names = project.class_names
    present = [c for c, k in enumerate(stats.images_with_class) if k > 0]
    if not present or stats.labelled_pixels == 0:
        return out
    low = [c for c in present if stats.class_fraction[c] < IMBALANCE_SHARE]
    if low and len(present) >= 2:
        parts = ", ".join(f"{names[c]} {_pct(stats.class_fraction[c])}" for c in low)
        weights = ", ".join(f"{names[c]} {stats.suggested_weights[c]:.3g}" for c in present)
        out.append(_finding(
            "class-imbalance", "",
            f"{_n(len(low), 'class holds', 'classes hold')} under 1 % of the labelled pixels ({parts}): plain cross-entropy can reach a low "
            f"loss by never predicting them; use Dice+CE or class weights (median-frequency: {weights}).",
            classes=low,
        ))
    absent = [c for c in range(project.num_classes) if stats.images_with_class[c] == 0]
    if declared:
        if absent:
            out.append(_finding(
                "class-absent", "",
                f"{_n(len(absent), 'declared class appears', 'declared classes appear')} in no mask ({_fmt([names[c] for c in absent], 6)}): the network "
                "cannot learn them, and per-class weights or metrics for them are undefined.",
                classes=absent,
            ))
    elif absent:
        used = [c for c in range(project.num_classes) if stats.images_with_class[c] > 0]
        hint = "0 is never used: were the values shifted by one?" if 0 in absent else f"{_fmt(absent)} never used"
        out.append(_finding(
            "label-gaps", "",
            f"class values used are {_fmt(used)} ({hint}): a class is missing or values were shifted, and the network "
            "keeps outputs for classes it never sees.",
            missing=absent,
        ))
    return out


# ---------------------------------------------------------------- statistics

