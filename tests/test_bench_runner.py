"""bench/run.py: finds group modules, turns a crashing module into a failed row, prints one JSON object."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("_bench_runner_under_test", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench_dir(tmp_path):
    (tmp_path / "checker.py").write_text(textwrap.dedent("""
        print("chatter that must not reach stdout in --json mode")

        def run():
            return [
                {"name": "check 1000 masks", "value": 2.5, "unit": "s", "target": "< 5 s", "ok": True},
                {"name": "findings per second", "value": 10, "unit": "1/s", "target": "> 100", "ok": False},
            ]
    """))
    (tmp_path / "training.py").write_text(textwrap.dedent("""
        def run():
            raise RuntimeError("no GPU and no patience")
    """))
    (tmp_path / "editor.py").write_text(textwrap.dedent("""
        def run():
            return [{"name": "half a row", "value": "fast"}]
    """))
    return tmp_path


def test_json_output_has_one_object_with_rows(bench_dir):
    proc = subprocess.run([sys.executable, str(RUNNER), "--dir", str(bench_dir), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1  # a missed target and a crash
    data = json.loads(proc.stdout)  # exactly one JSON document, nothing else on stdout
    assert list(data) == ["results"]
    rows = data["results"]
    for row in rows:
        assert {"name", "value", "unit", "target", "ok", "group", "module"} <= set(row)
        assert isinstance(row["ok"], bool)
    by_name = {r["name"]: r for r in rows}
    assert by_name["check 1000 masks"]["ok"] is True
    assert by_name["check 1000 masks"]["group"] == "checker"
    assert by_name["findings per second"]["ok"] is False
    crashed = [r for r in rows if r["module"] == "training"]
    assert len(crashed) == 1 and crashed[0]["ok"] is False
    assert "no GPU and no patience" in crashed[0]["error"]
    bad = [r for r in rows if r["module"] == "editor"]
    assert len(bad) == 1 and bad[0]["ok"] is False and "error" in bad[0]
    # missing modules are skipped with a note; chatter went to stderr
    assert "editor_core" in proc.stderr and "reliability" in proc.stderr
    assert "chatter" in proc.stderr


def test_only_selects_a_group(runner, bench_dir, capsys):
    rows = runner.collect(["checker"], bench_dir)
    assert [r["module"] for r in rows] == ["checker", "checker"]
    assert runner.main(["--dir", str(bench_dir), "--only", "training"]) == 1
    table = capsys.readouterr().out
    assert "ERROR" in table and "no GPU and no patience" in table


def test_table_marks_missed_targets(runner, bench_dir, capsys):
    runner.main(["--dir", str(bench_dir), "--only", "checker"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "value", "unit", "target", "result"]
    assert any("check 1000 masks" in line and line.endswith("OK") for line in lines)
    assert any("findings per second" in line and line.endswith("MISSED") for line in lines)


def test_all_ok_exits_zero_and_unknown_group_is_a_usage_error(runner, tmp_path):
    (tmp_path / "reliability.py").write_text(
        "def run():\n    return [{'name': 'x', 'value': 1, 'unit': '', 'target': '1', 'ok': True}]\n"
    )
    assert runner.main(["--dir", str(tmp_path), "--only", "reliability", "--json"]) == 0
    with pytest.raises(SystemExit) as exc:
        runner.main(["--only", "nonsense"])
    assert exc.value.code == 2
