"""The report: every table and figure of the finished runs under one or more folders (``vlcat-report``,
the sweeps' ``--report``, the quickstart and the offline suite all make it here).

The report is read-only with respect to runs: it only reads records and writes into its own folder, so it
can be made while a sweep is still running (unfinished runs are gaps).
"""

from __future__ import annotations

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
