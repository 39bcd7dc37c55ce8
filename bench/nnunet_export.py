"""nnU-Net's own verdict on an export (optional; not part of bench/run.py's groups, not run in CI).

    python bench/nnunet_export.py        # prints the rows as JSON lines; exit 0 ok, 1 a row failed

A copy of the bundled sample (resources/sample) is fixed as a user would
(``fcnstudio fix --code binary-255``, and the rotated pair, which no fix can
repair, removed), exported with ``fcnstudio export --nnunet``, and the export
is given to nnU-Net v2's ``verify_dataset_integrity`` — the check that
``nnUNetv2_plan_and_preprocess --verify_dataset_integrity`` runs. Rows: the
export time, and whether nnU-Net accepts it. Without ``nnunetv2`` importable
the script says "nnunetv2 not installed" and exits 0 (installing nnunetv2
pulls its own torch; it is not a dependency of FCN Studio).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fcnstudio.cli import main as fcnstudio  # noqa: E402

SAMPLE = ROOT / "resources" / "sample"
ROTATED = "cells_12"


def fixed_sample(work: Path) -> Path:
    """A copy of the sample with its error findings fixed or removed."""
    src = work / "sample"
    shutil.copytree(SAMPLE, src)
    for folder in ("images", "masks"):
        for p in (src / folder).glob(f"{ROTATED}.*"):
            p.unlink()
    if fcnstudio(["fix", str(src), "--code", "binary-255", "--no-backup", "--workers", "1"]) != 0:
        raise RuntimeError("fcnstudio fix --code binary-255 failed on the sample copy")
    return src


def run() -> list[dict]:
    if importlib.util.find_spec("nnunetv2") is None:
        print("nnunetv2 not installed: nothing to verify (pip install nnunetv2 in another environment to run this)",
              file=sys.stderr)
        return []
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    with tempfile.TemporaryDirectory(prefix="fcnstudio-nnunet-") as tmp:
        work = Path(tmp)
        src = fixed_sample(work)
        t0 = time.perf_counter()
        code = fcnstudio(["export", str(src), "--nnunet", str(work / "raw"), "--no-progress", "--workers", "1"])
        seconds = time.perf_counter() - t0
        rows = [{"name": "nnunet_export_sample_s", "value": round(seconds, 3), "unit": "s",
                 "target": "exit 0", "ok": code == 0}]
        if code != 0:
            return rows
        folder = next((work / "raw").glob("Dataset501_*"))
        try:
            verify_dataset_integrity(str(folder), 1)
            ok, error = True, None
        except Exception as exc:  # noqa: BLE001 - nnU-Net's verdict is the measurement
            ok, error = False, f"{type(exc).__name__}: {exc}"
        row = {"name": "nnunet_verify_dataset_integrity", "value": 1 if ok else 0, "unit": "",
               "target": "1 (nnU-Net accepts the export)", "ok": ok}
        if error:
            row["error"] = error
        return rows + [row]


if __name__ == "__main__":
    results = run()
    for r in results:
        print(json.dumps(r))
    sys.exit(0 if all(r["ok"] for r in results) else 1)
