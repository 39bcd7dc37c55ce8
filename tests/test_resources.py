"""The bundled sample is found, from the checkout and from a real (non-editable) install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fcnstudio.core.dataset import open_dataset
from fcnstudio.core.io import read_image, read_mask, read_mask_file
from fcnstudio.core.labels import load_project
from fcnstudio.core.resources import copy_sample, resources_dir, sample_dataset

REPO = Path(__file__).resolve().parents[1]
STEMS = [f"cells_{i:02d}" for i in range(1, 17)]
BINARY_255 = "cells_07"
ROTATED = "cells_12"


def test_sample_is_found_with_its_pairs():
    root = sample_dataset()
    assert root.parent == resources_dir()
    ds = open_dataset(root)
    assert ds.layout == "plain"
    assert [p.stem for p in ds.pairs] == STEMS
    assert all(p.image is not None and p.mask is not None for p in ds.pairs)
    project = load_project(ds)
    assert not project.inferred
    assert project.class_names == ["background", "cell", "spot"]
    assert project.ignore_index is None


def test_sample_masks_and_documented_defects():
    root = sample_dataset()
    counts = np.zeros(3, np.int64)
    with_spot = 0
    for stem in STEMS:
        image = read_image(root / "images" / f"{stem}.png")
        mf = read_mask_file(root / "masks" / f"{stem}.png")
        assert image.dtype == np.uint8 and image.ndim == 2
        if stem == BINARY_255:
            assert mf.mode == "L" and set(np.unique(mf.array)) == {0, 255}
            counts[1] += int((mf.array == 255).sum())
            counts[0] += int((mf.array == 0).sum())
            continue
        assert mf.mode == "P" and mf.palette is not None
        assert set(np.unique(mf.array)) <= {0, 1, 2}
        if stem == ROTATED:
            assert image.shape == (240, 256) and mf.array.shape == (256, 240)
        else:
            assert image.shape == mf.array.shape == (256, 256)
        counts += np.bincount(mf.array.ravel(), minlength=3)
        with_spot += int((mf.array == 2).any())
    fractions = counts / counts.sum()
    assert 0.15 <= fractions[1] <= 0.25, fractions
    assert 0 < fractions[2] < 0.01, fractions
    assert with_spot >= 12


def test_copy_sample_is_a_writable_copy(tmp_path):
    dest = copy_sample(tmp_path / "mine")
    assert sorted(p.name for p in (dest / "masks").iterdir()) == [f"{s}.png" for s in STEMS]
    assert (dest / "fcnstudio.json").read_bytes() == (sample_dataset() / "fcnstudio.json").read_bytes()
    np.testing.assert_array_equal(read_mask(dest / "masks" / "cells_01.png"),
                                  read_mask(sample_dataset() / "masks" / "cells_01.png"))
    with pytest.raises(FileExistsError):
        copy_sample(dest)


def test_generator_reproduces_the_sample(tmp_path):
    # The checked-in files are what the seeded generator writes.
    script = REPO / "resources" / "make_sample.py"
    if not script.exists():
        pytest.skip("not a checkout")
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True,
                   capture_output=True, timeout=120)
    shipped = sample_dataset()
    for rel in ["fcnstudio.json"] + [f"{d}/{s}.png" for d in ("images", "masks") for s in STEMS]:
        # Pixel-for-pixel (PNG bytes may differ between zlib builds).
        if rel.endswith(".json"):
            assert (tmp_path / rel).read_bytes() == (shipped / rel).read_bytes()
        else:
            np.testing.assert_array_equal(read_mask(tmp_path / rel), read_mask(shipped / rel), err_msg=rel)


def _copy_source(dest: Path) -> None:
    """The files a build reads, so the build's scratch files stay out of the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".fcnstudio")
    for name in ("fcnstudio", "resources"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)


def test_non_editable_install_ships_the_sample(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not available")
    src, target, elsewhere = tmp_path / "src", tmp_path / "site", tmp_path / "elsewhere"
    _copy_source(src)
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--quiet", "--target", str(target), "."],
        cwd=src, env=env, capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    probe = (
        "import json, fcnstudio\n"
        "from fcnstudio.core.resources import sample_dataset\n"
        "root = sample_dataset()\n"
        "print(json.dumps({'package': fcnstudio.__file__, 'root': str(root),\n"
        "  'files': sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())}))\n"
    )
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert Path(found["package"]).resolve().is_relative_to(target.resolve())
    assert Path(found["root"]).resolve().is_relative_to(target.resolve())
    expected = {"fcnstudio.json", "README.md"} | {f"{d}/{s}.png" for d in ("images", "masks") for s in STEMS}
    assert expected <= set(found["files"]), sorted(expected - set(found["files"]))
