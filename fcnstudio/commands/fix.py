"""``fcnstudio fix DATASET --code CODE [--dry-run] [--no-backup] [--workers N]``.

Checks the dataset, applies the fix for ``CODE`` to every file with that
finding (see :mod:`fcnstudio.core.fixes`), prints what changed and where the
backup is, then checks again and says whether the code is gone.

Exit codes: 0 fixed (or nothing to fix, or a dry run), 1 the code is still
reported afterwards (a refused file, a write error), 2 an unknown or
not-fixable code, or a usage/I/O problem.
"""

from __future__ import annotations

import sys

from fcnstudio.cli import UsageError
from fcnstudio.commands.check import emit, fix_command, open_for_check, run_check
from fcnstudio.core.checker.findings import FIXABLE, SEVERITY
from fcnstudio.core.fixes import FixError, apply_fix, plan_fix

FILES_LISTED = 20


class _Out:
    """stdout through :func:`emit` (file names that are not UTF-8 cannot crash the report)."""

    def write(self, text: str) -> None:
        emit(text, sys.stdout)


def run(args) -> int:
    code = args.code.strip()
    if code not in FIXABLE:
        what = "has no automatic fix" if code in SEVERITY else "is not a finding code"
        raise UsageError(f"{code!r} {what}; fixable codes: {', '.join(FIXABLE)}")
    out = _Out()
    dataset = open_for_check(args.dataset)
    result = run_check(dataset, args.workers, True)
    try:
        plan = plan_fix(result, code)
    except FixError as exc:
        raise UsageError(str(exc)) from None
    if not plan.files:
        out.write(f"No {code} finding in {result.root}: nothing to fix.\n")
        return 0

    verb = "would change" if args.dry_run else "changes"
    out.write(f"{code}: {len(plan.writes)} masks to fix in {result.root}\n")
    for f in plan.writes[:FILES_LISTED]:
        dest = f" → {f.target}" if f.target != f.path else ""
        out.write(f"  {f.path}{dest}: {verb} {f.changed} of {f.pixels} pixels ({f.note})\n")
    if len(plan.writes) > FILES_LISTED:
        rest = plan.writes[FILES_LISTED:]
        out.write(f"  … and {len(rest)} more masks ({sum(f.changed for f in rest)} pixels)\n")
    for f in plan.refused[:FILES_LISTED]:
        out.write(f"  refused {f.path}: {f.refused}\n")
    if len(plan.refused) > FILES_LISTED:
        out.write(f"  … and {len(plan.refused) - FILES_LISTED} more refused\n")
    for note in plan.notes:
        out.write(f"  note: {note}\n")
    if args.dry_run:
        out.write("Dry run: nothing was written.\n")
        return 0

    try:
        report = apply_fix(plan, backup=not args.no_backup)
    except (FixError, OSError) as exc:
        raise UsageError(f"the fix stopped: {exc}") from None
    total = sum(f.changed for f in plan.writes)
    out.write(f"Wrote {len(report.written)} masks ({total} pixels changed).\n")
    if report.removed:
        out.write(f"Replaced {len(report.removed)} non-PNG masks by PNG files of the same name.\n")
    if report.backup_dir is not None:
        out.write(f"Originals backed up in {report.backup_dir}\n")
    elif args.no_backup and report.written:
        out.write("No backup kept (--no-backup).\n")
    if report.project_file is not None:
        out.write(f"Classes and label map saved in {report.project_file}\n")
    for err in report.errors:
        out.write(f"  error: {err}\n")

    after = run_check(open_for_check(args.dataset), args.workers, True)
    left = after.files_with(code)
    if left:
        out.write(f"Re-checked: {len(left)} files still have {code} ({', '.join(left[:3])}).\n")
    else:
        out.write(f"Re-checked: no {code} finding left.\n")
    others = sorted({f.code for f in after.findings if f.severity == "error" and f.code != code})
    for other in others:
        hint = f": {fix_command(args.dataset, other)}" if other in FIXABLE else ""
        out.write(f"  still to do: {other}{hint}\n")
    return 1 if left or report.errors else 0
