"""Sequential vs Ray on the same 8-run offline sweep, on this machine; wall time of each, their ratio, and Ray's
per-run overhead.

The sweep: the offline suite's base-to-novel protocol (toy CLIP, generated world, no download), CoOp, four
tasks x two seeds = 8 runs, shortened (``--epochs``, small generated datasets). Both backends use the same
CPU budget: sequential is one process with ``--cpus`` threads; Ray is ``--cpus`` workers with one thread each
(a local instance started for the sweep). Each backend writes its own sweep folder and its own feature cache,
so neither reuses the other's work; the datasets are written once before timing. A control, sequential with
one thread (``sequential_1thread``), separates the thread count's effect from the parallel runs' (on a
machine shared with other jobs, threads beyond a free core cost more than they give).

Ray's overhead per run is a worker slot's time that was not the run: for each run, the time from the end of
the previous run on the same worker (or the sweep's start) to the driver receiving its result, minus the
run's time inside the task. A worker's first run pays the worker's start and the imports (torch, vlcat).

    python tools/bench_sweep.py                    # 8 runs, 2 CPUs, 5 epochs
    python tools/bench_sweep.py --epochs 10 --cpus 2
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--cpus", type=int, default=2, help="threads of the sequential process = Ray workers")
    p.add_argument("--per-class", type=int, nargs=3, default=(8, 4, 8), metavar=("TRAIN", "VAL", "TEST"),
                   help="generated images per class (default 8 4 8)")
    p.add_argument("--work-dir", help="where the sweeps go (default: a temporary folder)")
    args = p.parse_args(argv)

    from vlcat.bench.backends import compare_backends

    result = compare_backends(args.epochs, args.cpus, tuple(args.per_class), args.work_dir)
    print(json.dumps(result, indent=2))
    return 0
