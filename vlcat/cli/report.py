"""``vlcat-report`` (``tools/report.py``): the papers' tables and figures from the run folders under one or more
directories. Argument parsing and printing only; the report itself is :func:`vlcat.report.make_report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlcat.cli.guard import run_guarded
from vlcat.report import make_report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vlcat-report", description="Aggregate finished runs over seeds into "
                                "Markdown/CSV tables (rows = datasets + Average, columns = methods) and plots.")
    p.add_argument("runs", nargs="+", help="folders searched recursively for record.json (e.g. a sweep folder)")
    p.add_argument("--out", "-o", help="where to write report.md, the CSVs and the plots "
                   "(default <first folder>/report; '' writes nothing)")
    p.add_argument("--ddof", type=int, choices=[0, 1], default=0,
                   help="std over seeds: 0 = population std as CoOp's parser prints (default), 1 = sample std")
    p.add_argument("--no-std", action="store_true", help="show means only in the Markdown")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib figures")
    args = p.parse_intermixed_args(argv)  # key=value may come before and after options

    def go() -> int:
        out = str(Path(args.runs[0]) / "report") if args.out is None else args.out
        markdown, written, problems = make_report(args.runs, out, ddof=args.ddof, with_std=not args.no_std,
                                                  plots=not args.no_plots)
        for line in problems:
            print(f"warning: {line}", file=sys.stderr)
        print(markdown)
        if written:
            print(f"wrote {len(written)} file(s) to {out}", file=sys.stderr)
        return 0

    return run_guarded(go)
