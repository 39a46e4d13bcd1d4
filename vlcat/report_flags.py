"""Footnotes for runs that did not run as specified: a catalyst run none of whose LLM stages reached the
LLM is gradient descent with snapshot restarts, and a table must not present it as the LLM arm unmarked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from vlcat.results import Result
from vlcat.rundir import RECORD, read_json

LLM_FAILED = "‡"


def llm_failed_runs(results: Iterable[Result]) -> dict[str, list[str]]:
    """method -> run folders whose record says every LLM stage failed to reach its LLM."""
    out: dict[str, set[str]] = defaultdict(set)
    seen: set[Path] = set()
    for r in results:
        run_dir = Path(r.path).parent if Path(r.path).name == RECORD else Path(r.path).parent.parent
        if run_dir in seen:
            continue
        seen.add(run_dir)
        rec = read_json(run_dir / RECORD)
        if isinstance(rec, dict) and ((rec.get("catalyst") or {}).get("all_llm_failed")):
            out[r.method].add(str(run_dir))
    return {m: sorted(v) for m, v in out.items()}


def llm_failed_note(method: str, runs: list[str]) -> str:
    shown = ", ".join(runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    return (f"{LLM_FAILED} {method}: {len(runs)} run(s) in which no LLM stage reached the LLM, so the column is "
            f"not the LLM catalyst there: {shown}")
