"""Where the files shipped with FCN Studio are: icons, the bundled sample dataset.

The top-level ``resources/`` folder of the checkout is installed as the package
``fcnstudio.resources`` (see ``pyproject.toml``), so the same call finds it from
an editable install, a plain ``pip install .`` and a checkout that is not
installed at all.

The installed sample may sit in a read-only ``site-packages``: code that writes
into a dataset (saving masks, fixes, training runs) should work on a copy made
with :func:`copy_sample`.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources as _importlib_resources
from pathlib import Path

SAMPLE_NAME = "sample"


class ResourceError(FileNotFoundError):
    """FCN Studio's own data files are missing: the installation is incomplete."""


def resources_dir() -> Path:
    """The folder of FCN Studio's data files (``resources/`` of the checkout)."""
    try:
        root = _importlib_resources.files("fcnstudio.resources")
    except ModuleNotFoundError:
        root = None
    if root is not None:
        # A plain folder on disk in every supported install (not a zip import).
        path = Path(os.fspath(root)) if isinstance(root, os.PathLike) else Path(str(root))
        if path.is_dir():
            return path
    # A checkout used without installing it (e.g. PYTHONPATH=.): the folder sits
    # next to the package.
    path = Path(__file__).resolve().parents[2] / "resources"
    if path.is_dir():
        return path
    raise ResourceError(
        "FCN Studio's resources folder was not found; reinstall with `pip install .` "
        "from the source folder (it ships as the package fcnstudio.resources)."
    )


def sample_dataset() -> Path:
    """The bundled sample dataset (plain layout: ``images/``, ``masks/``, ``fcnstudio.json``)."""
    path = resources_dir() / SAMPLE_NAME
    if not (path / "images").is_dir():
        raise ResourceError(
            f"the bundled sample dataset is missing from {path.parent}; "
            "run `python resources/make_sample.py` in a checkout, or reinstall FCN Studio."
        )
    return path


def copy_sample(dest: str | os.PathLike) -> Path:
    """Copy the bundled sample to ``dest`` (which must not exist yet) and return ``dest``.

    Use this before writing into the sample: the installed copy may be read-only
    and is shared by every user of the installation.
    """
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; give a new folder to copy the sample into")
    src = sample_dataset()
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".fcnstudio", "__pycache__"))
    for path in [dest, *dest.rglob("*")]:  # an installed copy may be read-only
        try:
            path.chmod(path.stat().st_mode | 0o200)
        except OSError:
            pass
    return dest
