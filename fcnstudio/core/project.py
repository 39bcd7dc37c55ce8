"""The project file ``fcnstudio.json``: classes, colours, label map, ignore index.

A dataset without one is opened with settings inferred from a sample of its
masks (:func:`infer_project`); nothing is written until the user saves.

On disk (human-readable)::

    {
      "version": 1,
      "classes": [{"name": "background", "color": [0, 0, 0]}, ...],
      "label_map": {"255": 1, "#ff0000": 2},
      "ignore_index": 255,
      "training": {...}
    }

``label_map`` maps a stored mask value (a decimal string) or a stored colour
(``#rrggbb``) to a class index. Stored values that the map does not name are
taken as class indices as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .io import ImageReadError, atomic_write_text, default_colors, read_mask_file

PROJECT_FILE = "fcnstudio.json"
MAX_CLASSES = 1024
#: How many masks :func:`infer_project` looks at.
INFER_SAMPLE = 48

VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


class ProjectError(ValueError):
    """fcnstudio.json cannot be used; the message names the field and what to do."""


class LabelError(ValueError):
    """Stored mask values that the project cannot map to a class."""


@dataclass(frozen=True)
class ClassInfo:
    name: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Project:
    classes: tuple[ClassInfo, ...]
    #: stored value (int) or stored colour ((r, g, b) tuple) -> class index
    label_map: dict = field(default_factory=dict, compare=False)
    ignore_index: int | None = 255
    training: dict = field(default_factory=dict, compare=False)
    #: True when no fcnstudio.json was found and the settings were inferred.
    inferred: bool = False
    #: How the settings were inferred, in sentences a user can read.
    notes: tuple[str, ...] = ()
    #: The file that declared the classes (fcnstudio.json, or nnU-Net's dataset.json).
    source: str = field(default=PROJECT_FILE, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def colors(self) -> list[tuple[int, int, int]]:
        return [c.color for c in self.classes]

    @property
    def color_map(self) -> dict[tuple[int, int, int], int]:
        return {k: v for k, v in self.label_map.items() if isinstance(k, tuple)}

    @property
    def value_map(self) -> dict[int, int]:
        return {k: v for k, v in self.label_map.items() if isinstance(k, int)}

    def with_changes(self, **changes) -> "Project":
        return replace(self, **changes)

    def encode(self, raw: np.ndarray, name: str = "mask") -> np.ndarray:
        """Stored mask values → class indices (uint8, or uint16 past 255 classes).

        Pixels equal to ``ignore_index`` stay ``ignore_index``. Raises
        :class:`LabelError` naming the values that map to no class.
        """
        raw = np.asarray(raw)
        if raw.ndim == 3:
            cmap = self.color_map
            if not cmap:
                raise LabelError(
                    f"{name}: a colour (RGB) mask, but the project has no colour label map; "
                    "run the color-mask fix (fcnstudio fix DATASET --code color-mask)."
                )
            rgb = raw[..., :3].astype(np.uint32)
            key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            out = np.full(key.shape, -1, np.int64)
            for (r, g, b), idx in cmap.items():
                out[key == ((r << 16) | (g << 8) | b)] = idx
            if (out < 0).any():
                bad = np.unique(key[out < 0])[:5]
                cols = ", ".join(f"#{int(v):06x}" for v in bad)
                raise LabelError(f"{name}: colours not in the label map: {cols}")
            return out.astype(np.uint8 if self.num_classes <= 256 else np.uint16)
        if raw.dtype.kind == "f":
            if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
                raise LabelError(f"{name}: float mask with values that are not whole numbers; run the non-integer-mask fix.")
            if raw.size and (raw.min() < -(2**31) or raw.max() >= 2**31):
                raise LabelError(f"{name}: float mask with values far outside any class index "
                                 f"({float(raw.min()):g} .. {float(raw.max()):g}); fix the masks.")
            raw = raw.astype(np.int64)
        if raw.dtype.kind not in "iub":
            raise LabelError(f"{name}: mask of unsupported type {raw.dtype}")
        out = raw.astype(np.int64, copy=True)
        vmap = self.value_map
        if vmap:
            for value, idx in vmap.items():
                out[raw == value] = idx
        valid = (out >= 0) & (out < self.num_classes)
        if self.ignore_index is not None:
            valid |= out == self.ignore_index
        if not valid.all():
            bad = np.unique(raw[~valid])[:8]
            raise LabelError(
                f"{name}: stored values {', '.join(str(int(v)) for v in bad)} map to no class "
                f"(the project has {self.num_classes} classes, 0..{self.num_classes - 1}"
                + (f", ignore {self.ignore_index}" if self.ignore_index is not None else "")
                + "); fix the masks or the label map."
            )
        big = self.num_classes > 256 or (self.ignore_index or 0) > 255
        return out.astype(np.uint16 if big else np.uint8)

    # ------------------------------------------------------------ json

    def to_json(self) -> dict:
        lm = {}
        for k, v in self.label_map.items():
            key = "#%02x%02x%02x" % k if isinstance(k, tuple) else str(int(k))
            lm[key] = int(v)
        return {
            "version": 1,
            "classes": [{"name": c.name, "color": list(c.color)} for c in self.classes],
            "label_map": lm,
            "ignore_index": self.ignore_index,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data, source: str = PROJECT_FILE) -> "Project":
        if not isinstance(data, dict):
            raise ProjectError(f"{source}: expected a JSON object at the top level")
        raw_classes = data.get("classes")
        if not isinstance(raw_classes, list) or not raw_classes:
            raise ProjectError(f"{source}: 'classes' must be a non-empty list of {{name, color}}")
        if len(raw_classes) > MAX_CLASSES:
            raise ProjectError(f"{source}: {len(raw_classes)} classes is more than the {MAX_CLASSES} supported")
        palette = default_colors(len(raw_classes))
        classes = []
        for i, c in enumerate(raw_classes):
            if isinstance(c, str):
                c = {"name": c}
            if not isinstance(c, dict) or not isinstance(c.get("name", f"class {i}"), str):
                raise ProjectError(f"{source}: classes[{i}] must be an object with a string 'name'")
            name = c.get("name", f"class {i}")[:200]
            color = c.get("color", palette[i])
            classes.append(ClassInfo(name, _parse_color(color, f"{source}: classes[{i}].color")))
        n = len(classes)
        label_map: dict = {}
        raw_map = data.get("label_map", {}) or {}
        if not isinstance(raw_map, dict):
            raise ProjectError(f"{source}: 'label_map' must be an object of stored value → class index")
        for key, idx in raw_map.items():
            if isinstance(idx, bool) or not isinstance(idx, int) or not (0 <= idx < n or idx == data.get("ignore_index")):
                raise ProjectError(f"{source}: label_map[{key!r}] = {idx!r} is not a class index 0..{n - 1}")
            label_map[_parse_map_key(key, source)] = idx
        ignore = data.get("ignore_index", 255)
        if ignore is not None and (isinstance(ignore, bool) or not isinstance(ignore, int) or not 0 <= ignore <= 65535):
            raise ProjectError(f"{source}: 'ignore_index' must be null or an integer 0..65535, got {ignore!r}")
        training = data.get("training", {}) or {}
        if not isinstance(training, dict):
            raise ProjectError(f"{source}: 'training' must be an object")
        return cls(classes=tuple(classes), label_map=label_map, ignore_index=ignore, training=training)


def _parse_color(value, where: str) -> tuple[int, int, int]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    if (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return tuple(int(v) for v in value)  # type: ignore[return-value]
    raise ProjectError(f"{where} must be [r, g, b] with values 0..255 or '#rrggbb', got {value!r}")


def _parse_map_key(key: str, source: str):
    if isinstance(key, str) and key.startswith("#"):
        return _parse_color(key, f"{source}: label_map key")
    try:
        value = int(key)
    except (TypeError, ValueError):
        raise ProjectError(f"{source}: label_map key {key!r} must be a stored value (e.g. \"255\") or a colour \"#rrggbb\"") from None
    if not 0 <= value <= 65535:
        raise ProjectError(f"{source}: label_map key {key!r} is outside 0..65535")
    return value


def project_path(root: str | Path) -> Path:
    return Path(root) / PROJECT_FILE


def load_project(dataset: Dataset) -> Project:
    """The dataset's fcnstudio.json, or settings inferred from its masks."""
    path = project_path(dataset.root)
    if not path.exists():
        from .nnunet_json import load_dataset_json  # it imports this module: not at the top

        return load_dataset_json(dataset) or infer_project(dataset)
    limit = 16 * 2**20
    try:
        if not path.is_file():  # a folder, a FIFO or a link to /dev/zero would block or never end
            raise ProjectError(f"{PROJECT_FILE}: not a regular file; remove it or replace it by a project file")
        if path.stat().st_size > limit:
            raise ProjectError(f"{PROJECT_FILE}: file is too large to be a project file")
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            raise ProjectError(f"{PROJECT_FILE}: file is too large to be a project file")
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{PROJECT_FILE}: cannot be read ({exc})") from exc
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, ProjectError):
            raise
        raise ProjectError(f"{PROJECT_FILE}: not valid JSON ({exc}); fix or delete the file") from exc
    return Project.from_json(data)


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def save_project(root: str | Path, project: Project) -> Path:
    path = project_path(root)
    atomic_write_text(path, json.dumps(project.to_json(), indent=2) + "\n")
    return path


# ---------------------------------------------------------------- inference


def _sample(pairs, k: int):
    if len(pairs) <= k:
        return list(pairs)
    step = len(pairs) / k
    return [pairs[int(i * step)] for i in range(k)]


def infer_project(dataset: Dataset, sample: int = INFER_SAMPLE) -> Project:
    """Classes and label map guessed from up to ``sample`` masks (spread over the dataset)."""
    values: set[int] = set()
    colors: set[tuple[int, int, int]] = set()
    palette = None
    read = 0
    for pair in _sample([p for p in dataset.pairs if p.mask is not None], sample):
        try:
            mf = read_mask_file(pair.mask)
        except ImageReadError:
            continue
        read += 1
        arr = mf.array
        if mf.palette is not None and palette is None:
            palette = mf.palette
        if arr.ndim == 3:
            rgb = arr[..., :3].reshape(-1, 3)
            key = np.unique((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2])
            if len(key) > 256:
                key = key[:256]
            colors.update((int(k >> 16) & 255, int(k >> 8) & 255, int(k) & 255) for k in key)
        elif arr.dtype.kind in "iub":
            if arr.dtype.itemsize == 1:
                counts = np.bincount(arr.ravel(), minlength=256)
                values.update(int(v) for v in np.flatnonzero(counts))
            else:
                values.update(int(v) for v in np.unique(arr)[:4096])
        elif arr.dtype.kind == "f":
            finite = arr[np.isfinite(arr)]
            values.update(int(round(float(v))) for v in np.unique(finite)[:4096] if 0 <= v < 65536)
    return infer_from_values(values, colors, palette, read)


def infer_from_values(values, colors=(), palette: np.ndarray | None = None, read: int = 1) -> Project:
    """The inference rules of :func:`infer_project`, applied to values already collected.

    ``values``: stored grey/index values seen; ``colors``: ``(r, g, b)`` colours seen
    in colour masks; ``palette``: the ``(256, 3)`` palette of a palette mask, if any;
    ``read``: how many masks were read (0 → two default classes). The checker
    uses this with the values of every mask it read.
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


