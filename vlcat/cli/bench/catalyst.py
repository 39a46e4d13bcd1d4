"""The catalyst benchmarks: the paired comparison (``compare``) and the wall-time split of one run (``timing``).

    # CoOp vs catalyst (paper mode, look-ahead) and its controls (random, none), paired by seed
    # (add the ceiling with --methods coop lookahead random none oracle):
    python tools/bench_catalyst.py compare                              # all settings, seeds 1-8
    python tools/bench_catalyst.py compare --settings b2n16 --seeds 1 2 3 4
    python tools/bench_catalyst.py compare --report-only                # the table of what finished
    python tools/bench_catalyst.py compare --datasets synth_backgrounds synth_photo_condition -o runs/bc_tasks
    # one CoOp + catalyst run, LLM-stage time against gradient time:
    python tools/bench_catalyst.py timing --epochs 50 --set llm.base_url=http://127.0.0.1:8000/v1

``compare`` is resumable (finished runs are skipped, unfinished ones resumed); it reuses a running local
vLLM server (a key-protected one via VLCAT_LLM_API_KEY) or starts one, checks it before each LLM run (a
server that died is replaced; with llm.start_server=false the run fails instead), keeps the LLM replies in its own
cache (<output-dir>/llm_replies, so that a fresh benchmark times real requests), and writes report.md in
its folder.
``timing`` prints one JSON object; ``llm_share_of_run`` is the share of the run's wall time in LLM stages.
"""

from __future__ import annotations

import argparse
import json
import sys

from vlcat.errors import VlcatError


def _compare(args: argparse.Namespace) -> int:
    from vlcat.bench.catalyst import say
    from vlcat.bench.catalyst_compare import compare

    text, failed = compare(args.output_dir, settings=args.settings, methods=args.methods, seeds=args.seeds,
                           datasets=args.datasets, data_root=args.data_root, overrides=args.set,
                           report_only=args.report_only)
    print(text)
    if failed is not None:
        say(f"error: {failed}; fix the cause and rerun the same command (finished runs are kept)")
        return failed.exit_code
    return 0


def _timing(args: argparse.Namespace) -> int:
    from vlcat.bench.catalyst_timing import bench_catalyst

    result = bench_catalyst(epochs=args.epochs, shots=args.shots, overrides=args.set, work_dir=args.work_dir)
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("compare", help="paired benchmark of CoOp, the catalyst's modes and controls")
    c.add_argument("--settings", nargs="*", default=["b2n16", "fs1", "fs4"])
    c.add_argument("--methods", nargs="*", default=["coop", "paper", "lookahead", "random", "none"])
    c.add_argument("--seeds", nargs="*", type=int, default=list(range(1, 9)))
    c.add_argument("--datasets", nargs="+", default=["synth_shapes"],
                   help="offline task cards (default synth_shapes); several give one more, pooled table")
    c.add_argument("--output-dir", "-o", default="runs/bench_catalyst")
    c.add_argument("--data-root", help="where the offline dataset is written (default: <cache>/data)")
    c.add_argument("--report-only", action="store_true", help="print the table of finished runs, train nothing")
    c.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run-config overrides for every run")
    t = sub.add_parser("timing", help="LLM-stage vs gradient wall time of one CoOp + catalyst run")
    t.add_argument("--epochs", type=int, default=20, help="optim.max_epoch of the run (default 20)")
    t.add_argument("--shots", type=int, default=16, help="images per class (default 16)")
    t.add_argument("--work-dir", help="folder for data, caches and the run (default: a temp folder)")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run-config overrides")
    args = parser.parse_args(argv)
    try:
        return _compare(args) if args.mode == "compare" else _timing(args)
    except VlcatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code

