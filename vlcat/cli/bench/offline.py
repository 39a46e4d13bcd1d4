"""Accuracy on the offline world, no download.

Without ``--suite``: the quickstart sweep (configs/experiments/quickstart.yaml: toy CLIP, synth_shapes,
base-to-novel; zero-shot, CoOp and CoOp + catalyst with the local vLLM server) over seeds 1, 2, 3.

With ``--suite PROTOCOL``: the offline benchmark suite (five world tasks, four domain shifts; configs in
configs/experiments/offline/) for a learner list, printing the papers' table per task and the average.

    python tools/bench_offline.py                                   # quickstart sweep, 3 seeds
    python tools/bench_offline.py --suite base2novel                # Base/Novel/HM, zero-shot and CoOp
    python tools/bench_offline.py --suite fewshot -l zeroshot -l coop -l cocoop   # K = 1, 2, 4, 8, 16
    python tools/bench_offline.py --suite dg                        # source and four shifted targets
    python tools/bench_offline.py --suite cross_dataset -l "drawing=coop 'learner.ctx_init=a drawing of a'"
    python tools/bench_offline.py --suite base2novel seeds=[1] --dry-run   # plan and time estimate only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlcat.cli.guard import run_guarded
from vlcat.cli.sweep_options import add_backend_args, make_backend


def main(argv: list[str] | None = None) -> int:
    """``--suite PROTOCOL`` runs that protocol of the suite; without it, the quickstart sweep over 3 seeds
    into runs/bench_offline (later arguments are the quickstart's and win)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--suite" or a.startswith("--suite=") for a in argv):
        return suite_main(argv)
    from vlcat.cli.quickstart import main as quickstart_main

    return quickstart_main(["-o", "runs/bench_offline", "seeds=[1,2,3]", *argv])


def suite_main(argv: list[str] | None = None) -> int:
    """``tools/bench_offline.py --suite PROTOCOL``: one protocol of the offline suite, then its tables."""
    from vlcat.bench.suite import (
        PROTOCOLS,
        estimate_seconds,
        format_duration,
        load_suite,
        plan_suite,
        run_suite,
        suite_markdown,
    )

    p = argparse.ArgumentParser(
        prog="bench_offline.py --suite",
        description="Run one protocol of the offline benchmark suite (the embedded world's tasks, no download) "
                    "for a list of learners and print the papers' table: per task and the average.")
    p.add_argument("--suite", required=True, metavar="PROTOCOL", help=f"one of: {', '.join(PROTOCOLS)}")
    p.add_argument("--learner", "-l", action="append", default=[], metavar="SPEC",
                   help="'[LABEL=]LEARNER [key=value ...]': a learner YAML under configs/learners/ (by name) or "
                        "a path, plus run-config overrides for it; repeatable (default: the protocol's list, "
                        "zeroshot and coop)")
    p.add_argument("--output-dir", "-o", help="sweep folder (default runs/offline/<protocol>)")
    p.add_argument("--data-root", help="where the generated datasets are written (default <cache>/data)")
    p.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE", dest="run_overrides",
                   help="run-config override for every run (repeatable), e.g. --set optim.max_epoch=10")
    p.add_argument("--data-per-class", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="write smaller datasets (images per class), for smoke tests; default: each card's size")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.add_argument("overrides", nargs="*", help="sweep overrides, e.g. seeds=[1] datasets=[synth_shapes]")
    add_backend_args(p)
    args = p.parse_intermixed_args(argv)  # sweep overrides may come between options

    def go() -> int:
        from vlcat.report import make_report
        from vlcat.results import load_results
        from vlcat.train.run import default_cache_dir

        data_root = Path(args.data_root) if args.data_root else default_cache_dir() / "data"
        extra = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        sweep = load_suite(args.suite, args.learner, extra, [f"data.root={data_root}", *args.run_overrides])
        plan = plan_suite(sweep)
        todo = sum(plan.todo)
        print(f"[suite] {args.suite}: {len(sweep.datasets)} task(s) x {len(sweep.methods)} method(s) "
              f"({', '.join(m.name for m in sweep.methods)}) x {len(sweep.seeds)} seed(s) = {len(plan.runs)} "
              f"runs, {todo} to do; estimated {format_duration(plan.estimate_s)} on 2 CPU cores (plus about a "
              "minute to write the datasets the first time) "
              f"-> {sweep.output_dir}", file=sys.stderr, flush=True)
        if args.dry_run:
            for run, t in zip(plan.runs, plan.todo, strict=True):
                state = f"~{format_duration(estimate_seconds(run))}" if t else "finished"
                print(f"{state:>10}  {run.rel}")
            return 0
        seconds = run_suite(plan, data_root, progress=not args.no_progress,
                            per_class=tuple(args.data_per_class) if args.data_per_class else None,
                            backend=make_backend(args))
        _, _, problems = make_report([sweep.output_dir], str(Path(sweep.output_dir) / "report"))
        for msg in problems:
            print(f"warning: {msg}", file=sys.stderr)
        results, _ = load_results(sweep.output_dir)
        print(suite_markdown(args.suite, sweep, results))
        if args.suite == "base2novel":
            _write_paired(Path(sweep.output_dir), results)
        print(f"[suite] {args.suite} done in {format_duration(seconds)} ({todo} run(s) done now, "
              f"{len(plan.runs) - todo} reused); tables in {Path(sweep.output_dir) / 'report'}", file=sys.stderr)
        return 0

    return run_guarded(go)


def _write_paired(output_dir: Path, results: list) -> None:
    """The paired section next to the report's other tables, so the folder holds what the command printed."""
    from vlcat.bench.suite import PAIRED_FILE, paired_section
    from vlcat.rundir import atomic_write_text

    section = paired_section(results)
    if section:
        atomic_write_text(output_dir / "report" / PAIRED_FILE, section)
