"""``vlcat-report``: the papers' tables and figures from the run folders under one or more directories.

The report is read-only with respect to runs: it only reads records and writes into its own folder, so it
can be made while a sweep is still running (unfinished runs are gaps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def make_report(roots: list[str], out: str | None = None, *, ddof: int = 0, with_std: bool = True,
                plots: bool = True) -> tuple[str, list[Path], list[str]]:
    """Markdown of every table, the files written (unless ``out`` is empty) and warnings about bad files."""
    from vlcat.environment import environment_warnings
    from vlcat.errors import VlcatError
    from vlcat.results import load_results
    from vlcat.tables import build_tables, to_markdown, write_tables

    missing = [r for r in roots if not Path(r).is_dir()]
    if missing:
        raise VlcatError(f"{missing[0]} is not a folder; give a sweep or runs folder")
    if out and Path(out).exists() and not Path(out).is_dir():
        raise VlcatError(f"--out {out} is a file; give a folder for the report")
    results, problems = load_results(*roots)
    if not results:
        raise VlcatError(f"no finished runs (record.json with a test accuracy) under {', '.join(roots)}")
    problems += environment_warnings(results)  # versions, hardware or data that differ within a cell
    tables = build_tables(results, ddof)
    from vlcat.report_flags import llm_failed_note, llm_failed_runs

    for method, runs in llm_failed_runs(results).items():
        note = llm_failed_note(method, runs)
        problems.append(note)
        for table in tables:
            if method in table.columns:
                table.notes.append(note)
    markdown = "\n".join(to_markdown(t, with_std) for t in tables)
    written: list[Path] = []
    if out:
        try:
            written = write_tables(tables, out, with_std)
            if plots:
                from vlcat.plots import write_plots

                written += write_plots(results, out, ddof)
        except (FileExistsError, NotADirectoryError, PermissionError) as exc:
            raise VlcatError(f"cannot write the report to {out}: {exc.strerror} ({exc.filename}); "
                             "give --out a folder") from None
    return markdown, written, problems


def main(argv: list[str] | None = None) -> int:
    from vlcat.cli import _guard

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

    return _guard(go)
