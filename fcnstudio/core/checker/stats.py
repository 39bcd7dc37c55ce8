"""The dataset's class statistics: what share of the labelled pixels each class holds, and suggested weights."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
import numpy as np

from ..project import Project
from .classes import MaskView


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

    def to_json(self) -> dict:
        """Every field, as JSON types (tuples as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> "DatasetStats":
        """The inverse of :meth:`to_json`; unknown keys are left out, missing ones take their defaults."""
        if not isinstance(data, dict):
            raise ValueError("statistics must be a JSON object")
        kwargs = {}
        for f in fields(cls):
            if f.name in data:
                v = data[f.name]
                kwargs[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kwargs)


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
