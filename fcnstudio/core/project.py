"""The project file ``fcnstudio.json``: classes, colours, label map, ignore index.

A dataset without one is opened with settings inferred from its masks
(:mod:`fcnstudio.core.labels`); nothing is written until the user saves.

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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .io import atomic_write_text, default_colors

PROJECT_FILE = "fcnstudio.json"
MAX_CLASSES = 1024


def index_dtype(largest: int) -> np.dtype:
    """The mask type that holds class indices (and an ignore value) up to ``largest``: uint8, else uint16."""
    return np.dtype(np.uint8 if largest <= 255 else np.uint16)


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
    def mask_dtype(self) -> np.dtype:
        """The type of this project's class-index masks: uint8 while every class and the ignore value fit."""
        return index_dtype(max(self.num_classes - 1, self.ignore_index or 0))

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
            return out.astype(self.mask_dtype)
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
        return out.astype(self.mask_dtype)

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


def read_project(root: str | Path) -> Project:
    """The project file at ``root``; :class:`ProjectError` when it is missing or unusable.

    :func:`fcnstudio.core.labels.load_project` falls back to inferred settings
    when there is none.
    """
    path = project_path(root)
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
