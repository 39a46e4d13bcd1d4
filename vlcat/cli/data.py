"""``vlcat-check-data`` (``tools/check_data.py``): are the datasets ready under a data root? One line per
dataset that is, one per problem of one that is not. The checks are :func:`vlcat.data.doctor.diagnose`.
"""

from __future__ import annotations

import argparse
import sys

from vlcat.cli.guard import run_guarded
from vlcat.data.doctor import Diagnosis, default_datasets, diagnose


def main(argv: list[str] | None = None) -> int:
    """``vlcat-check-data``: one line per dataset that is ready, one per problem of one that is not."""
    p = argparse.ArgumentParser(prog="vlcat-check-data", description="Check that datasets are prepared under a "
                                "data root before training: one line per problem and what to do.")
    p.add_argument("datasets", nargs="*", help="card names, card files, folder:PATH or csv:PATH (default: every "
                   "benchmark card in datasets/ but the generated synth_* ones)")
    p.add_argument("--root", "-r", default="data", help="the data root, as data.root= (default: data)")
    p.add_argument("--decode", action="store_true", help="also decode every image (slow on large datasets)")
    args = p.parse_args(argv)
    return run_guarded(lambda: _report([diagnose(n, args.root, decode=args.decode)
                                        for n in args.datasets or default_datasets()]))


def _report(results: list[Diagnosis]) -> int:
    for dx in results:
        if dx.ready:
            print(f"ok       {dx.name}: {dx.summary}")
        for line in dx.problems:
            print(f"PROBLEM  {line}")
    not_ready = [dx.name for dx in results if not dx.ready]
    if not_ready:
        print(f"{len(not_ready)} of {len(results)} dataset(s) not ready: {', '.join(not_ready)}", file=sys.stderr)
        return 1
    print(f"all {len(results)} dataset(s) ready", file=sys.stderr)
    return 0
