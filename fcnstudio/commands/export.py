"""``fcnstudio export DATASET --nnunet OUT_DIR [--id 501] [--name NAME]``: the handover to nnU-Net.

Checks the dataset first (as ``fcnstudio check``) and refuses, listing the
error findings, while there are any; then writes ``OUT_DIR/DatasetXXX_NAME/``
(:mod:`fcnstudio.core.nnunet_export`) with a progress bar on a terminal.

Exit codes: 0 exported; 1 refused (error findings, or data nnU-Net cannot
take, e.g. mixed channel counts); 2 a usage or I/O problem (not a dataset, an
id outside 1..999, a target folder that is not empty, a failed write), one
line on stderr. Nothing is left in OUT_DIR when it does not end with 0.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace

from fcnstudio.cli import UsageError
from fcnstudio.commands.check import ProgressBar, emit, open_for_check, render_findings, run_check
from fcnstudio.core.checker.result import CheckResult
from fcnstudio.core.labels import load_project
from fcnstudio.core.nnunet_export import ExportError, ExportRefused, ExportResult, export_nnunet
from fcnstudio.core.project import ProjectError


def run(args) -> int:
    dataset = open_for_check(args.dataset)
    result = run_check(dataset, args.workers, not args.no_progress)
    if result.has_errors:
        emit(refusal(result, args.dataset), sys.stderr)
        return 1
    try:
        project = load_project(dataset)
    except ProjectError as exc:
        raise UsageError(str(exc)) from None
    bar = ProgressBar("exporting") if not args.no_progress and sys.stderr.isatty() else None
    try:
        done = export_nnunet(dataset, project, args.nnunet, dataset_id=args.id, name=args.name, progress=bar)
    except ExportRefused as exc:
        emit(f"fcnstudio export: refused: {exc}\n", sys.stderr)
        return 1
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    emit(summary(done, args.id))
    return 0


def refusal(result: CheckResult, dataset_arg: str) -> str:
    errors = replace(result, findings=tuple(f for f in result.findings if f.severity == "error"))
    n = len({f.code for f in errors.findings})
    lines = [f"fcnstudio export: refused: the check reports errors ({n} kind{'s' if n != 1 else ''}); "
             "fix them first (nothing was written):", ""]
    lines += render_findings(errors, dataset_arg)
    return "\n".join(lines)


def summary(done: ExportResult, dataset_id: int) -> str:
    folder = shlex.quote(str(done.folder.parent))
    labels = ", ".join(f"{k}={v}" for k, v in done.labels.items())
    channels = ", ".join(done.channel_names.values())
    return "\n".join([
        f"Exported {done.cases} cases to {done.folder}",
        f"  channels: {channels}; labels: {labels}",
        "Next, with nnU-Net v2 installed:",
        f"  export nnUNet_raw={folder} nnUNet_preprocessed={folder}/../nnUNet_preprocessed "
        f"nnUNet_results={folder}/../nnUNet_results",
        f"  nnUNetv2_plan_and_preprocess -d {dataset_id} --verify_dataset_integrity",
        f"  nnUNetv2_train {dataset_id} 2d 0",
        "",
    ])
