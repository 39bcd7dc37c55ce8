"""The exceptions of the training layer: unusable data (the message names the file and the fix), and a stop."""

from __future__ import annotations

__all__ = ["DataError", "Stopped", "UnreadableError"]


class DataError(ValueError):
    """A pair that cannot be used for training; the message names the file and the fix."""


class UnreadableError(DataError):
    """A file that could be read when training started can no longer be (deleted, damaged, permissions)."""


class Stopped(Exception):
    """Raised inside a run (even mid-forward) when :meth:`~.trainer.Trainer.stop` was asked for."""
