"""The checker's one result type, shared by the checker, the fixes, the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")


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

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "files": list(self.files),
            "message": self.message,
            "fixable": self.fixable,
        }
