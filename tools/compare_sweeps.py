#!/usr/bin/env python
"""Compare two base-to-novel sweep folders of the same protocol run for run (same method, task, seed):
each folder's averages and the paired difference per method.

Made for changes that move numbers everywhere at once (the LR schedule, a precision), so that a note
says by how much and on how many (task, seed) pairs, not only that two averages differ:

    python tools/compare_sweeps.py runs/b2n_before runs/b2n_after
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vlcat.catalyst_bench import sign_test, t_interval  # noqa: E402
from vlcat.cli import _guard  # noqa: E402
from vlcat.errors import VlcatError  # noqa: E402
from vlcat.results import harmonic_mean, load_results  # noqa: E402

Cells = dict[tuple[str, str, int], dict[str, float]]  # (method, task, seed) -> {"base": .., "novel": ..}


def read_sweep(folder: Path) -> Cells:
    """Base and novel test accuracy of every finished base-to-novel run under ``folder``."""
    if not folder.is_dir():
        raise VlcatError(f"{folder} is not a folder; give two sweep folders (e.g. runs/offline/base2novel)")
    results, _ = load_results(folder)
    cells: Cells = defaultdict(dict)
    for r in results:
        if r.subsample in ("base", "novel") and r.dataset == r.source:
            cells[(r.method, r.dataset, r.seed)][r.subsample] = r.accuracy
    if not cells:
        raise VlcatError(f"{folder} holds no finished base-to-novel runs")
    return cells


def _avg(cells: Cells, method: str, keys: list[tuple[str, int]]) -> tuple[float, float | None]:
    """Five-task average as the README prints it: mean Base, mean Novel over tasks (seeds averaged first)."""
    by_task: dict[str, list[dict[str, float]]] = defaultdict(list)
    for task, seed in keys:
        by_task[task].append(cells[(method, task, seed)])
    base = [sum(c["base"] for c in cs) / len(cs) for cs in by_task.values()]
    novel = [sum(c["novel"] for c in cs) / len(cs) for cs in by_task.values() if all("novel" in c for c in cs)]
    return sum(base) / len(base), (sum(novel) / len(novel) if len(novel) == len(base) else None)


def compare(before: Cells, after: Cells, labels: tuple[str, str]) -> str:
    methods = list(dict.fromkeys(m for m, _, _ in list(before) + list(after)))
    a, b = labels
    lines = [f"| method | {a} Base | {a} Novel | {a} HM | {b} Base | {b} Novel | {b} HM | "
             "paired Δ (HM, or Base), 95 % CI | W/T/L (sign-test p) |",
             "|:---|---:|---:|---:|---:|---:|---:|:---|:---|"]
    for m in methods:
        keys = sorted({(t, s) for (mm, t, s) in before if mm == m} & {(t, s) for (mm, t, s) in after if mm == m})
        if not keys:
            continue
        cols = []
        for cells in (before, after):
            base, novel = _avg(cells, m, keys)
            hm = harmonic_mean(base, novel) if novel is not None else None
            cols += [f"{base:.2f}", "–" if novel is None else f"{novel:.2f}", "–" if hm is None else f"{hm:.2f}"]

        def score(c: dict[str, float]) -> float:
            return harmonic_mean(c["base"], c["novel"]) if "novel" in c else c["base"]

        diffs = [score(after[(m, t, s)]) - score(before[(m, t, s)]) for t, s in keys]
        mean, lo, hi = t_interval(diffs)
        wins, losses = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
        p = f" (p {sign_test(wins, losses):.2g})" if wins + losses else ""
        lines.append(f"| {m} | {' | '.join(cols)} | {mean:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
                     f"{wins}/{len(diffs) - wins - losses}/{losses}{p} |")
    n_pairs = len({(t, s) for (_, t, s) in before} & {(t, s) for (_, t, s) in after})
    lines.append(f"\n{n_pairs} (task, seed) pairs; Δ = {b} − {a} per pair; averages over tasks as the suite "
                 "prints them (HM of the averaged Base and Novel).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("before", type=Path, help="sweep folder of the baseline")
    ap.add_argument("after", type=Path, help="sweep folder of the change")
    ap.add_argument("--labels", nargs=2, default=("before", "after"), metavar=("A", "B"))
    args = ap.parse_args(argv)
    print(compare(read_sweep(args.before), read_sweep(args.after), tuple(args.labels)))
    return 0


if __name__ == "__main__":
    sys.exit(_guard(main))
