"""The checker's one result type, shared by the checker, the fixes, the CLI and the GUI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")

#: The codes whose fix :mod:`fcnstudio.core.fixes` knows.
FIXABLE = ("binary-255", "color-mask", "lossy-mask", "interpolation-artifacts", "inconsistent-encoding", "non-integer-mask")

#: Every finding code and its severity (the checker contract).
SEVERITY = {
    "missing-mask": "error",
    "missing-image": "error",
    "unreadable": "error",
    "shape-mismatch": "error",
    "label-out-of-range": "error",
    "binary-255": "error",
    "color-mask": "error",
    "non-integer-mask": "error",
    "lossy-mask": "error",
    "interpolation-artifacts": "warning",
    "inconsistent-encoding": "error",
    "empty-mask": "warning",
    "class-imbalance": "warning",
    "class-absent": "warning",
    "image-channels-mixed": "warning",
    "image-depth-mixed": "warning",
    "label-gaps": "warning",
    "ignore-border-255": "info",
    "exif-rotation": "warning",
    "mask-16bit": "info",
    "constant-image": "warning",
    "nan-image": "error",
}
#: Every finding code and its severity (DESIGN.md's table).
CODES = dict(SEVERITY)


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about a dataset.

    ``code`` is one of the stable codes of DESIGN.md (``binary-255``, ...).
    ``path`` is the file the finding is about, relative to the dataset root
    (the first of ``files``; empty for dataset-wide findings). ``fix`` names the
    fix in :mod:`fcnstudio.core.fixes` that repairs it (usually the code itself),
    or None when only the user can. ``location`` is an optional ``(x, y)`` pixel
    the GUI can centre on.
    """

    code: str
    severity: str
    path: str
    message: str
    fix: str | None = None
    files: tuple[str, ...] = ()
    location: tuple[int, int] | None = None
    data: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not self.files and self.path:
            object.__setattr__(self, "files", (self.path,))

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    def to_json(self, full: bool = False) -> dict:
        """The finding as ``fcnstudio check --json`` prints it; ``full`` adds what :meth:`from_json` needs back.

        ``full`` adds ``path``, ``fix``, ``location`` and ``data`` (the values of
        ``data`` that are not JSON types are left out): the pre-flight cache and
        the GUI keep findings this way.
        """
        out = {
            "code": self.code,
            "severity": self.severity,
            "files": list(self.files),
            "message": self.message,
            "fixable": self.fixable,
        }
        if full:
            out.update(path=self.path, fix=self.fix, location=list(self.location) if self.location else None,
                       data={k: v for k, v in self.data.items() if _is_json(v)})
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Finding":
        """A finding from :meth:`to_json` (either form); raises ValueError/KeyError/TypeError on a malformed one."""
        files = tuple(d.get("files") or ())
        fix = d["fix"] if "fix" in d else (d["code"] if d.get("fixable") else None)
        return cls(code=d["code"], severity=d["severity"], path=d.get("path", files[0] if files else ""),
                   message=d.get("message", ""), fix=fix, files=files,
                   location=tuple(d["location"]) if d.get("location") else None, data=dict(d.get("data") or {}))


def _is_json(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
