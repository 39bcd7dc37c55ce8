"""Fault injection for the reliability tests: permission denial, a read-only mount, a full disk.

Tests run as root in CI, where ``chmod 000`` denies nothing, so denial is
simulated by patching the file-opening functions for the given paths. Each
helper is a context manager usable in-process; the ``CLI_*_PRELUDE`` strings
install the same fault in a CLI child process (``entrypoints.cli(prelude=...)``).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from contextlib import contextmanager
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _inside(path, roots) -> bool:
    try:
        p = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return any(p == r or p.startswith(r + os.sep) for r in roots)


@contextmanager
def denied_reads(*paths):
    """Opening any of ``paths`` for reading raises PermissionError (EACCES), as for a mode-000 file."""
    roots = [os.path.abspath(p) for p in paths]
    real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

    def check(file):
        if isinstance(file, (str, bytes, os.PathLike)) and _inside(file, roots):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(file))

    def fake_open(file, *a, **k):
        check(file)
        return real_open(file, *a, **k)

    def fake_os_open(file, *a, **k):
        check(file)
        return real_os_open(file, *a, **k)

    builtins.open, io.open, os.open = fake_open, fake_open, fake_os_open
    try:
        yield
    finally:
        builtins.open, io.open, os.open = real_open, real_io_open, real_os_open


@contextmanager
def read_only(*folders):
    """Creating or replacing anything under ``folders`` fails with EROFS (a read-only mount)."""
    roots = [os.path.abspath(p) for p in folders]
    saved = {}

    def deny(name, argpos=0):
        real = getattr(os, name)
        saved[name] = real

        def fake(*a, **k):
            targets = [a[i] for i in (argpos,) if i < len(a)]
            if name in ("replace", "rename", "link", "symlink"):
                targets = list(a[:2])
            if any(_inside(t, roots) for t in targets):
                raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(targets[0]))
            return real(*a, **k)

        setattr(os, name, fake)

    for name in ("mkdir", "replace", "rename", "unlink", "remove", "rmdir", "link", "symlink", "truncate"):
        deny(name)
    real_os_open = os.open
    saved["open"] = real_os_open

    def fake_open(file, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND) and _inside(file, roots):
            raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(file))
        return real_os_open(file, flags, *a, **k)

    os.open = fake_open
    real_b_open = builtins.open

    def fake_b_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and isinstance(file, (str, bytes, os.PathLike)) and _inside(file, roots):
            raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(file))
        return real_b_open(file, mode, *a, **k)

    builtins.open = io.open = fake_b_open
    try:
        yield
    finally:
        for name, real in saved.items():
            setattr(os, name, real)
        builtins.open = io.open = real_b_open


@contextmanager
def disk_full(*folders, at: str = "write"):
    """Writes under ``folders`` fail with ENOSPC: at ``"write"`` (the bytes) or ``"fsync"``.

    Files are written through ``os.fdopen(fd).write`` by the atomic writer and
    through ``shutil`` copies by the fixes; both are covered: a file object
    opened for writing under a folder raises on ``write``, and ``os.fsync`` of
    such a file raises.
    """
    roots = [os.path.abspath(p) for p in folders]
    real_fsync, real_fdopen, real_b_open = os.fsync, os.fdopen, builtins.open
    real_sendfile = getattr(os, "sendfile", None)
    real_copy_range = getattr(os, "copy_file_range", None)

    def fd_path(fd) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def enospc(path=""):
        return OSError(errno.ENOSPC, "No space left on device", path)

    def fake_fdopen(fd, mode="r", *a, **k):
        fh = real_fdopen(fd, mode, *a, **k)
        path = fd_path(fd)
        if at == "write" and any(c in mode for c in "wa+") and _inside(path, roots):
            return _FullProxy(fh, path)
        return fh

    def fake_b_open(file, mode="r", *a, **k):
        fh = real_b_open(file, mode, *a, **k)
        if at == "write" and any(c in mode for c in "wax+") and isinstance(file, (str, bytes, os.PathLike)) \
                and _inside(file, roots):
            return _FullProxy(fh, os.fsdecode(file))
        return fh

    def fake_fsync(fd):
        path = fd_path(fd)
        if _inside(path, roots) and os.path.isfile(path):
            raise enospc(path)
        return real_fsync(fd)

    def fake_sendfile(out_fd, *a, **k):
        path = fd_path(out_fd)
        if _inside(path, roots):
            raise enospc(path)
        return real_sendfile(out_fd, *a, **k)

    os.fdopen, builtins.open, io.open = fake_fdopen, fake_b_open, fake_b_open
    if at == "fsync":
        os.fsync = fake_fsync
    if real_sendfile is not None:
        os.sendfile = fake_sendfile
    if real_copy_range is not None:
        def fake_copy_range(src, dst, *a, **k):
            path = fd_path(dst)
            if _inside(path, roots):
                raise enospc(path)
            return real_copy_range(src, dst, *a, **k)

        os.copy_file_range = fake_copy_range
    try:
        yield
    finally:
        os.fsync, os.fdopen, builtins.open, io.open = real_fsync, real_fdopen, real_b_open, real_b_open
        if real_sendfile is not None:
            os.sendfile = real_sendfile
        if real_copy_range is not None:
            os.copy_file_range = real_copy_range


class _FullProxy:
    """A writable file whose writes fail with ENOSPC (what a full disk does)."""

    def __init__(self, fh, path):
        self._fh, self._path = fh, path

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", self._path)

    writelines = write

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)


#: Python run first in a CLI child to simulate the same faults there (tests run as root).
CLI_DENY_PRELUDE = (
    "import sys; sys.path.insert(0, {here!r}); import faults as _c; "
    "_c.ACTIVE = _c.denied_reads(*{paths!r}); _c.ACTIVE.__enter__()"
)
CLI_READ_ONLY_PRELUDE = (
    "import sys; sys.path.insert(0, {here!r}); import faults as _c; "
    "_c.ACTIVE = _c.read_only(*{paths!r}); _c.ACTIVE.__enter__()"
)
CLI_DISK_FULL_PRELUDE = (
    "import sys; sys.path.insert(0, {here!r}); import faults as _c; "
    "_c.ACTIVE = _c.disk_full(*{paths!r}, at={at!r}); _c.ACTIVE.__enter__()"
)


def prelude(template: str, *paths, **kw) -> str:
    return template.format(here=HERE, paths=tuple(str(p) for p in paths), **kw)
