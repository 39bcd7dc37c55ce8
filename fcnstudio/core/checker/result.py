"""What a check found: :class:`CheckResult`, its typed statistics, and whether it is still current.

A result remembers the :func:`fingerprint` of the files it read (path, size and
mtime of every image and mask, and the bytes of ``fcnstudio.json``);
:meth:`CheckResult.is_current` recomputes it, so the GUI and the training
pre-flight can share one check for as long as nothing changed on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..dataset import Dataset, DatasetError, open_dataset
from ..project import Project, ProjectError, project_path, read_project
from .findings import Finding
from .nnunet_json import dataset_json_path
from .stats import DatasetStats

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class EncodingInfo:
    """How the checker read stored values as classes; the fixes write with the same reading."""

    #: Packed colour (0xRRGGBB) → class index, for colour masks.
    color_map: dict = field(default_factory=dict)
    #: "project", "voc", "palette" or "order" (see :func:`fcnstudio.core.checker.encodings.color_index_map`).
    color_source: str = ""
    #: Name of the luminance table when grey masks are palette brightnesses, else None.
    luminance: str | None = None
    #: The whole match (conversion, grey → class table, palette) behind ``luminance``.
    luminance_match: tuple | None = None
    #: Whether 255 is void (ignore) in this dataset.
    void255: bool = False


@dataclass(frozen=True)
class CheckResult:
    dataset: Dataset
    project: Project
    findings: tuple[Finding, ...]
    stats: DatasetStats
    #: How stored values were read as classes (colour map, luminance table, 255 as void).
    encoding: EncodingInfo = EncodingInfo()
    #: :func:`fingerprint` of the files when the check started ("" when unknown).
    fingerprint: str = ""

    def is_current(self, project: Project | None = None) -> bool:
        """Whether the files on disk are still those this check read, checked against ``project``.

        ``project``: the one the check is wanted for (None or an inferred one:
        fcnstudio.json or the inference, as :func:`~.run.check_dataset` takes it).
        The folder is listed again, so an added or removed file makes it stale.
        """
        if not self.fingerprint:
            return False
        try:
            listed = open_dataset(self.dataset.root)  # files added or removed since count too
        except (DatasetError, OSError):
            return False
        return fingerprint(listed, project) == self.fingerprint

    @property
    def root(self) -> Path:
        return self.dataset.root

    @property
    def layout(self) -> str:
        return self.dataset.layout

    @property
    def pairs(self) -> int:
        return len(self.dataset.pairs)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]

    def files_with(self, code: str) -> list[str]:
        """Every file named by a finding with this code, in order, once."""
        seen: dict[str, None] = {}
        for f in self.by_code(code):
            for p in f.files:
                seen.setdefault(p, None)
        return list(seen)

    def to_json(self) -> dict:
        """The ``fcnstudio check --json`` object (paths relative to the dataset root)."""
        s = self.stats
        return {
            "dataset": str(self.root),
            "layout": self.layout,
            "pairs": self.pairs,
            "classes": [{"index": i, "name": c.name} for i, c in enumerate(self.project.classes)],
            "findings": [f.to_json() for f in self.findings],
            "stats": {
                "class_fraction": list(s.class_fraction),
                "images_with_class": list(s.images_with_class),
                "suggested_weights": list(s.suggested_weights),
                "class_pixels": list(s.class_pixels),
                "ignored_pixels": s.ignored_pixels,
                "encodings": dict(s.encodings),
                "image_shapes": dict(s.image_shapes),
                "mask_shapes": dict(s.mask_shapes),
            },
        }




def fingerprint(dataset: Dataset, project: Project | None = None) -> str:
    """A digest of (path, size, mtime_ns) of every image and mask, the project file's bytes and ``project``.

    ``project`` counts only when it is declared (not inferred) and differs from
    the project file in classes, label map or ignore value: an unsaved project
    from the GUI changes what the check means, its training settings do not.
    """
    h = hashlib.sha256()
    h.update(f"v{FINGERPRINT_VERSION}".encode())
    if project is not None and not project.inferred:
        meaning = _meaning(project)
        try:
            same = _meaning(read_project(dataset.root)) == meaning  # the file's project: same check as None
        except ProjectError:
            same = False
        if not same:
            h.update(meaning.encode())
    for p in dataset.pairs:
        for path in (p.image, p.mask):
            if path is None:
                h.update(b"-\n")
                continue
            try:
                st = os.stat(path)
                h.update(f"{dataset.relative(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode(errors="surrogateescape"))
            except OSError:  # file names that are not UTF-8 come back as they are (surrogateescape)
                h.update(f"{dataset.relative(path)}|?\n".encode(errors="surrogateescape"))
    try:
        h.update(project_path(dataset.root).read_bytes())
    except OSError:
        h.update(b"<no project file>")
    declaration = dataset_json_path(dataset)
    if declaration is not None:  # nnU-Net: the labels it declares, and the extra channel files of each case
        try:
            h.update(declaration.read_bytes())
            h.update("\n".join(sorted(os.listdir(declaration.parent / "imagesTr"))).encode(errors="surrogateescape"))
        except OSError:
            h.update(b"<unreadable dataset.json>")
    return h.hexdigest()


def _meaning(project: Project) -> str:
    data = project.to_json()
    data.pop("training", None)
    return json.dumps(data, sort_keys=True)
