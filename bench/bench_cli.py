"""The command line shared by bench modules that run alone (`python bench/NAME.py`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

CORE_KEYS = ("name", "value", "unit", "target", "ok")


def quick_requested(quick: bool | None) -> bool:
    """``quick`` as given, else whether ``FCNSTUDIO_BENCH_QUICK`` asks for small counts."""
    if quick is None:
        return os.environ.get("FCNSTUDIO_BENCH_QUICK", "") not in ("", "0")
    return bool(quick)


def run_rows(benches: dict, counts: dict, label: str, only: list[str] | None = None) -> list[dict]:
    """Call each ``benches[name](counts)`` in turn (or those in ``only``); a row that
    raises becomes an ``ok: false`` row with its error, so it never hides the others."""
    rows = []
    for name, fn in benches.items():
        if only and name not in only:
            continue
        try:
            rows.append(fn(counts))
        except Exception as exc:  # noqa: BLE001 - one broken row must not hide the others
            rows.append({"name": name, "value": float("nan"), "unit": "", "target": "runs without error",
                         "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        print(f"bench {label}: {rows[-1]['name']} = {rows[-1]['value']}", file=sys.stderr, flush=True)
    return rows


def main(run, benches, prog: str, description: str, argv: list[str] | None = None) -> int:
    """Parse ``--quick/--only/--json``, call ``run(only, quick)`` and print its rows.

    Exit status 0 only when every row met its target.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--only", action="append", choices=list(benches), help="run only this row (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.only, args.quick)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        width = max((len(r["name"]) for r in rows), default=0) + 2
        for r in rows:
            print(f"{r['name']:<{width}} {r['value']!s:>8} {r['unit']:<9} target {r['target']:<7} "
                  f"{'OK' if r['ok'] else 'MISSED'}")
            for k, v in r.items():
                if k not in CORE_KEYS:
                    print(f"    {k}: {v}")
    return 0 if all(r["ok"] for r in rows) else 1
