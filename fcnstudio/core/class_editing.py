"""Class editing: the project after adding, renaming or recolouring a class (names and colours checked).

Each function takes a :class:`~fcnstudio.core.project.Project` and returns
the changed one; the session stores it and writes ``fcnstudio.json``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .io import default_colors
from .project import ClassInfo, Project
from .session_types import SessionError

__all__ = ["MAX_EDIT_CLASSES", "with_class_added", "with_class_recolored", "with_class_renamed"]

#: Most classes the editor adds (index 255 is the usual ignore value of 8-bit masks).
MAX_EDIT_CLASSES = 255


def with_class_added(project: Project, name: str | None, color, mask_dtype: np.dtype | None) -> Project:
    """``project`` with one class appended (at index ``project.num_classes``).

    ``mask_dtype`` is the open mask's type (a 16-bit mask holds more classes); a
    missing ``name``/``color`` gets ``class N`` and an unused default colour.
    """
    n = project.num_classes
    limit = MAX_EDIT_CLASSES if project.ignore_index is None else min(MAX_EDIT_CLASSES, project.ignore_index)
    if mask_dtype == np.uint16:
        limit = 65535
    if n >= limit:
        raise SessionError(f"cannot add a class: {n} classes is the most this dataset's masks can hold")
    name = _clean_name(name or f"class {n}", project, None)
    if color is None:
        used = set(project.colors)
        color = next((c for c in default_colors(256)[n:] if c not in used), default_colors(n + 1)[n])
    return project.with_changes(classes=project.classes + (ClassInfo(name, _clean_color(color)),))


def with_class_renamed(project: Project, index: int, name: str) -> Project:
    _check_index(project, index)
    return _with_class(project, index, name=_clean_name(name, project, index))


def with_class_recolored(project: Project, index: int, color) -> Project:
    _check_index(project, index)
    return _with_class(project, index, color=_clean_color(color))


def _with_class(project: Project, index: int, **changes) -> Project:
    classes = list(project.classes)
    classes[index] = replace(classes[index], **changes)
    return project.with_changes(classes=tuple(classes))


def _check_index(project: Project, index: int) -> None:
    if not 0 <= index < project.num_classes:
        raise SessionError(f"no class {index}: the project has classes 0..{project.num_classes - 1}")


def _clean_name(name: str, project: Project, index: int | None) -> str:
    name = " ".join(str(name).split())[:200]
    if not name:
        raise SessionError("a class needs a name")
    for i, c in enumerate(project.classes):
        if i != index and c.name == name:
            raise SessionError(f"there is already a class named {name!r} (class {i})")
    return name


def _clean_color(color) -> tuple[int, int, int]:
    try:
        r, g, b = (int(v) for v in color)
    except (TypeError, ValueError):
        raise SessionError(f"a colour is (r, g, b) with values 0..255; got {color!r}") from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise SessionError(f"a colour is (r, g, b) with values 0..255; got {color!r}")
    return (r, g, b)
