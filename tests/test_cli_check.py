"""`fcnstudio check` / `fcnstudio fix`: the JSON schema, exit codes, the report, bad paths."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from defects import binary_masks, index_masks, make_dataset  # noqa: E402
from fcnstudio.cli import main  # noqa: E402
from fcnstudio.core.io import read_mask_file  # noqa: E402

MAIN = str(Path(__file__).resolve().parent.parent / "main.py")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_schema(data):
    assert set(data) >= {"dataset", "layout", "pairs", "classes", "findings", "stats"}
    assert isinstance(data["dataset"], str) and isinstance(data["layout"], str)
    assert isinstance(data["pairs"], int)
    for c in data["classes"]:
        assert set(c) == {"index", "name"} and isinstance(c["index"], int) and isinstance(c["name"], str)
    for f in data["findings"]:
        assert set(f) == {"code", "severity", "files", "message", "fixable"}
        assert f["severity"] in ("error", "warning", "info")
        assert isinstance(f["files"], list) and all(isinstance(p, str) and not p.startswith("/") for p in f["files"])
        assert isinstance(f["message"], str) and isinstance(f["fixable"], bool)
    n = len(data["classes"])
    stats = data["stats"]
    assert len(stats["class_fraction"]) == n and all(isinstance(x, float) for x in stats["class_fraction"])
    assert len(stats["images_with_class"]) == n and all(isinstance(x, int) for x in stats["images_with_class"])
    assert len(stats["suggested_weights"]) == n and all(isinstance(x, float) for x in stats["suggested_weights"])


def test_json_clean_dataset_exit_0(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", index_masks(n=3, classes=3))
    code, out, err = run(capsys, "check", "--json", "--workers", "1", str(root))
    assert code == 0
    data = json.loads(out)
    check_schema(data)
    assert data["pairs"] == 3 and data["layout"] == "plain" and data["findings"] == []
    assert sum(data["stats"]["class_fraction"]) == pytest.approx(1.0, abs=1e-4)


def test_json_errors_exit_1(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2, top=255))
    code, out, _ = run(capsys, "check", str(root), "--json", "--workers", "1", "--no-progress")
    assert code == 1
    data = json.loads(out)
    check_schema(data)
    f = data["findings"][0]
    assert f == {**f, "code": "binary-255", "severity": "error", "files": ["masks/case00.png"], "fixable": True}
    assert len(out.strip().splitlines()) == 1  # one JSON object


def test_bad_path_exit_2_one_line(tmp_path, capsys):
    code, out, err = run(capsys, "check", "--json", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no such folder" in err and "Traceback" not in err


def test_no_pairs_exit_2(tmp_path, capsys):
    (tmp_path / "ds" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "masks").mkdir()
    code, _, err = run(capsys, "check", str(tmp_path / "ds"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    root = make_dataset(tmp_path / "only_images", {"a": np.zeros((8, 8), np.uint8)})
    (root / "masks" / "a.png").unlink()
    code, _, err = run(capsys, "check", str(root))
    assert code == 2 and "no image/mask pairs" in err


def test_bad_project_file_exit_2(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2))
    (root / "fcnstudio.json").write_text("{not json")
    code, _, err = run(capsys, "check", str(root))
    assert code == 2 and "fcnstudio.json" in err and len(err.strip().splitlines()) == 1


def test_human_report(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", binary_masks(n=5, top=255))
    code, out, err = run(capsys, "check", str(root), "--workers", "1")
    assert code == 1
    assert "ERROR    binary-255" in out
    assert f"fcnstudio fix {root} --code binary-255" in out
    assert "masks/case00.png, masks/case01.png, masks/case02.png … and 2 more" in out
    assert "background" in out and "foreground" in out  # class table
    assert "How the classes were inferred" in out  # no fcnstudio.json
    assert err == ""  # no progress bar when stderr is not a terminal


def test_fix_binary_255_end_to_end(tmp_path, capsys):
    masks = binary_masks(n=3, top=255)
    root = make_dataset(tmp_path / "ds", masks)
    code, out, _ = run(capsys, "fix", str(root), "--code", "binary-255", "--dry-run", "--workers", "1")
    assert code == 0 and "Dry run" in out and "would change" in out
    assert read_mask_file(root / "masks" / "case00.png").array.max() == 255

    code, out, _ = run(capsys, "fix", str(root), "--code", "binary-255", "--workers", "1")
    assert code == 0
    assert "Originals backed up in" in out and "Re-checked: no binary-255 finding left." in out
    assert read_mask_file(root / "masks" / "case00.png").array.max() == 1
    backup = next((root / ".fcnstudio" / "backup").iterdir())
    assert read_mask_file(backup / "masks" / "case00.png").array.max() == 255
    code, out, _ = run(capsys, "check", "--json", str(root), "--workers", "1")
    assert code == 0 and json.loads(out)["findings"] == []


def test_fix_unknown_or_unfixable_code_exit_2(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2))
    for bad in ("nonsense", "empty-mask"):
        code, _, err = run(capsys, "fix", str(root), "--code", bad)
        assert code == 2 and "binary-255" in err and "non-integer-mask" in err


def test_fix_nothing_to_do(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2))
    code, out, _ = run(capsys, "fix", str(root), "--code", "binary-255", "--workers", "1")
    assert code == 0 and "nothing to fix" in out


def test_main_py_subprocess_json_and_exit_code(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=6, top=255))
    proc = subprocess.run([sys.executable, MAIN, "check", "--json", "--workers", "2", str(root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert [f["code"] for f in data["findings"]] == ["binary-255"] * 6
    proc = subprocess.run([sys.executable, MAIN, "check", str(tmp_path / "missing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
