"""Compare two sweep folders of the same protocol run for run (same method, task, shots and seed): each
folder's averages and the paired difference per method (and per shot count).

Made for changes that move numbers everywhere at once (the LR schedule, a precision), so that a note says
by how much and on how many (task, seed) pairs, not only that two averages differ. Base-to-novel runs
compare HM per run (Base where a method has no novel score); few-shot runs compare test accuracy:

    python tools/compare_sweeps.py runs/b2n_before runs/b2n_after
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlcat.bench.compare_sweeps import compare, read_sweep
from vlcat.cli.guard import run_guarded


def main(argv: list[str] | None = None) -> int:
    """The command line, parsed and run under the guard (a missing folder is one ``error:`` line)."""
    return run_guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("before", type=Path, help="sweep folder of the baseline")
    ap.add_argument("after", type=Path, help="sweep folder of the change")
    ap.add_argument("--labels", nargs=2, default=("before", "after"), metavar=("A", "B"))
    args = ap.parse_args(argv)
    print(compare(read_sweep(args.before), read_sweep(args.after), tuple(args.labels)))
    return 0

