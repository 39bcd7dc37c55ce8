"""The command line shared by bench modules that run alone (`python bench/NAME.py`)."""

from __future__ import annotations

import argparse
import json

CORE_KEYS = ("name", "value", "unit", "target", "ok")


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
