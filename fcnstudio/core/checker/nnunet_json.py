"""nnU-Net's ``dataset.json``: the class list of an nnU-Net raw dataset, read as a project file would be.

An nnU-Net v2 raw dataset (``imagesTr/CASE_0000.png``, ``labelsTr/CASE.png``)
declares in ``dataset.json``::

    {
      "channel_names": {"0": "R", "1": "G", "2": "B"},
      "labels": {"background": 0, "liver": 1, "tumour": 2, "ignore": 3},
      "numTraining": 40,
      "file_ending": ".png"
    }

:func:`load_dataset_json` turns ``labels`` into a :class:`~fcnstudio.core.project.Project`
(class names and values; the ``ignore`` label, which nnU-Net requires to be
the highest value, becomes the ignore index; no ``ignore`` label: no ignore
index, so every value past the labels is out of range). A ``fcnstudio.json``
next to it wins (see :func:`fcnstudio.core.project.load_project`). What
nnU-Net itself refuses is refused with a :class:`ProjectError` whose message
says why: region-based labels (a label whose value is a list — not supported
here), labels that are not 0, 1, 2, … in a row, an ``ignore`` label that is
not the highest value.

:func:`channel_findings` compares ``channel_names`` with the files of each
case: nnU-Net reads one file per channel (``CASE_0000``, ``CASE_0001``, …), or
one multi-channel file (an RGB ``.png`` for ``R, G, B``). A case missing one of
its channel files is ``missing-image``; images whose channels disagree with
``channel_names`` are ``image-channels-mixed``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..dataset import Dataset
from ..io import default_colors
from ..project import ClassInfo, Project, ProjectError
from .findings import SEVERITY, Finding

DATASET_JSON = "dataset.json"
#: nnU-Net's name for the label whose pixels are ignored.
IGNORE_LABEL = "ignore"
_LIMIT = 16 * 2**20


def dataset_json_path(dataset: Dataset) -> Path | None:
    """``dataset.json`` of an nnU-Net layout dataset, when there is one."""
    path = Path(dataset.root) / DATASET_JSON
    return path if dataset.layout == "nnunet" and path.is_file() else None


def read_dataset_json(path: Path) -> dict:
    """The parsed file; :class:`ProjectError` when it cannot be read or is not a JSON object."""
    try:
        if path.stat().st_size > _LIMIT:
            raise ProjectError(f"{DATASET_JSON}: file is too large to be an nnU-Net dataset.json")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{DATASET_JSON}: cannot be read ({exc})") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProjectError(f"{DATASET_JSON}: not valid JSON ({exc}); fix the file") from exc
    if not isinstance(data, dict):
        raise ProjectError(f"{DATASET_JSON}: expected a JSON object at the top level")
    return data


def load_dataset_json(dataset: Dataset) -> Project | None:
    """The project ``dataset.json`` declares, or None when the dataset has none (not nnU-Net, or no file)."""
    path = dataset_json_path(dataset)
    if path is None:
        return None
    return project_from_labels(read_dataset_json(path).get("labels"))


def project_from_labels(labels) -> Project:
    """nnU-Net's ``labels`` object (name → value) as a project; refuses what nnU-Net refuses."""
    where = f"{DATASET_JSON}: 'labels'"
    if not isinstance(labels, dict) or not labels:
        raise ProjectError(f"{where} must be a non-empty object of class name → value, e.g. {{\"background\": 0, \"liver\": 1}}")
    regions = [name for name, v in labels.items() if isinstance(v, (list, tuple))]
    if regions:
        raise ProjectError(
            f"{where}: {', '.join(map(repr, regions[:4]))} {'is a region' if len(regions) == 1 else 'are regions'} "
            "(a list of values: nnU-Net's region-based training); FCN Studio trains one class per value and does "
            "not support regions — give each label a single value, or add an fcnstudio.json with the classes."
        )
    bad = [name for name, v in labels.items() if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535]
    if bad:
        raise ProjectError(f"{where}: the value of {bad[0]!r} must be a whole number 0..65535, got {labels[bad[0]]!r}")
    by_value: dict[int, str] = {}
    for name, v in labels.items():
        if v in by_value:
            raise ProjectError(f"{where}: {by_value[v]!r} and {name!r} both have the value {v}; each label needs its own")
        by_value[v] = str(name)[:200]
    ignore = labels.get(IGNORE_LABEL)
    classes = sorted(v for n, v in labels.items() if n != IGNORE_LABEL)
    if ignore is not None and classes and ignore < classes[-1]:
        raise ProjectError(
            f"{where}: the 'ignore' label is {ignore}, but nnU-Net requires it to be the highest value "
            f"({by_value[classes[-1]]!r} is {classes[-1]}): give 'ignore' the value {classes[-1] + 1} "
            "and store that value in the masks."
        )
    if classes != list(range(len(classes))):
        missing = sorted(set(range(classes[-1] + 1)) - set(classes)) if classes else [0]
        raise ProjectError(
            f"{where}: nnU-Net needs the values 0, 1, 2, … in a row (0 = background); "
            f"{', '.join(map(str, missing[:8]))} {'is' if len(missing) == 1 else 'are'} missing — renumber the labels."
        )
    colors = default_colors(len(classes))
    return Project(
        classes=tuple(ClassInfo(by_value[v], colors[v]) for v in classes),
        ignore_index=ignore,
        source=DATASET_JSON,
    )


def channel_findings(dataset: Dataset, image_channels: dict[str, int]) -> list[Finding]:
    """``channel_names`` against each case's files; ``image_channels``: image path (relative) → channels read."""
    path = dataset_json_path(dataset)
    if path is None:
        return []
    try:
        names = read_dataset_json(path).get("channel_names")
    except ProjectError:
        return []  # reported by whoever reads the labels
    if not isinstance(names, dict) or not names:
        return []
    n = len(names)
    declared = f"{n} channel{'s' if n != 1 else ''} ({', '.join(str(v) for v in list(names.values())[:6])})"
    cases = {p.stem: p for p in dataset.pairs if p.image is not None}
    multi_file = any(dataset.extra_channels.get(stem) for stem in cases)
    if multi_file:
        return _missing_channel_files(dataset, cases, n, declared) + _extra_channel_files(dataset, cases, n, declared)
    odd = [rel for stem, p in cases.items() if (rel := dataset.relative(p.image)) in image_channels
           and image_channels[rel] != n]
    if not odd:
        return []
    seen = sorted({image_channels[r] for r in odd})
    hint = " and no _0001 … files" if max(seen) < n else ""
    return [_finding(
        "image-channels-mixed", "",
        f"dataset.json's channel_names declares {declared} but {len(odd)} case{'s' if len(odd) != 1 else ''} "
        f"{'has' if len(odd) == 1 else 'have'} a single image file with {' or '.join(map(str, seen))} "
        f"channel{'s' if seen != [1] else ''}{hint}: nnU-Net stops on the channel count, or the network gets another "
        "input than declared; fix channel_names or the images.",
        files=odd,
    )]


def _missing_channel_files(dataset: Dataset, cases: dict, n: int, declared: str) -> list[Finding]:
    out = []
    for stem, pair in cases.items():
        have = {0} | {_channel(p) for p in dataset.extra_channels.get(stem, ())}
        for k in range(n):
            if k in have:
                continue
            rel = dataset.relative(pair.image.with_name(f"{stem}_{k:04d}{pair.image.suffix}"))
            out.append(_finding(
                "missing-image", rel,
                f"case {stem} has no {rel}: dataset.json declares {declared}, one file per channel, so nnU-Net "
                "cannot load this case (add the file or remove the case).",
            ))
    return out


def _extra_channel_files(dataset: Dataset, cases: dict, n: int, declared: str) -> list[Finding]:
    extra = [dataset.relative(p) for stem in cases for p in dataset.extra_channels.get(stem, ()) if _channel(p) >= n]
    if not extra:
        return []
    return [_finding(
        "image-channels-mixed", "",
        f"dataset.json's channel_names declares {declared} but {len(extra)} image file{'s' if len(extra) != 1 else ''} "
        f"{'is' if len(extra) == 1 else 'are'} channel _{n:04d} or higher: nnU-Net ignores them or stops; "
        "add the channels to channel_names or remove the files.",
        files=extra,
    )]


def _channel(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def _finding(code: str, path: str, message: str, files=()) -> Finding:
    return Finding(code=code, severity=SEVERITY[code], path=path, message=message, files=tuple(files) or ((path,) if path else ()))
