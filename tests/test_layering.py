"""Dependencies point one way: core imports neither Qt nor torch; train imports no Qt."""

import pathlib
import subprocess
import sys


def _modules_after(stmt):
    code = f"import sys; {stmt}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _package_modules(package):
    """Every module of ``fcnstudio.<package>``, its subpackages' included (core.checker, core.review …)."""
    folder = pathlib.Path(__file__).resolve().parent.parent / "fcnstudio" / package
    names = []
    for p in sorted(folder.rglob("*.py")):
        parts = p.relative_to(folder).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            names.append(".".join(("fcnstudio", package, *parts)))
    return names


def test_core_imports_neither_torch_nor_qt():
    mods = _modules_after("; ".join(f"import {m}" for m in [*_package_modules("core"), "fcnstudio.cli"]))
    assert "torch" not in mods
    assert "PyQt6" not in mods
    assert "fcnstudio" in mods


def test_train_imports_no_qt():
    mods = _modules_after("; ".join(f"import {m}" for m in ["fcnstudio.train", *_package_modules("train")]))
    assert "PyQt6" not in mods


def test_the_canvas_array_math_imports_no_qt():
    """The canvas's numpy helpers are tested and reused without a window."""
    mods = _modules_after("import fcnstudio.gui.canvas_arrays")
    assert "PyQt6" not in mods
