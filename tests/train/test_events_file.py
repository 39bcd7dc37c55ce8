"""events.jsonl survives a SIGKILL of its writer: every line that is there parses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys
    from fcnstudio.train.run_folder import EventsFile
    from fcnstudio.train.events import EvalEvent, StepEvent
    f = EventsFile(sys.argv[1])
    n = 200  # classes: long eval lines, as a big project writes them
    i = 0
    while True:
        i += 1
        f.write(StepEvent(i, 0, 1.0 / i, 1e-3, 10.0, 0.1 * i, None))
        f.write(EvalEvent(i, 0.5, [0.123456789] * n, [0.5] * n, [1 / n] * n, [1 / n] * n, [0.9] * n))
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writer_leaves_only_whole_lines(tmp_path):
    log = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log)], env=env)
    try:
        deadline = time.monotonic() + 60
        while (not log.exists() or log.stat().st_size < 2_000_000) and time.monotonic() < deadline:
            assert proc.poll() is None, "the writer ended on its own"
            time.sleep(0.01)  # polling the file's size: the writer is another process
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    data = log.read_bytes()
    assert len(data) >= 2_000_000 and data.endswith(b"\n")
    lines = data.decode("utf-8").splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert len(lines) > 100
