"""``vlcat-fewshot`` and ``vlcat-base2novel`` (``tools/fewshot.py``, ``tools/base2novel.py``): run or resume a
sweep on the sequential or the Ray backend, with a progress line per run (also the quickstart's).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vlcat.cli.guard import run_guarded
from vlcat.cli.sweep_options import add_backend_args, make_backend, parallelism
from vlcat.errors import ConfigError
from vlcat.llm.endpoint import ENV_URL
from vlcat.sweeps.execute import StepResult, SweepFailed, failure_summary, run_sweep
from vlcat.sweeps.llm import shared_endpoint
from vlcat.sweeps.plan import inspect_run, plan_sweep
from vlcat.sweeps.progress import Progress
from vlcat.sweeps.schema import load_sweep


def show_step(progress: Progress, step: StepResult) -> None:
    """The per-run line, ending in the sweep's progress line."""
    progress.update(step)
    acc = "" if step.accuracy is None else f"  test {step.accuracy:.2f}"
    evals = f"  evaluated {', '.join(step.evaluated)}" if step.evaluated else ""
    err = f"  {step.error}" if step.error else ""
    print(f"[{progress.done}/{progress.total}] {step.action:8s} {step.run.rel}{acc}{evals}{err}  "
          f"({step.seconds:.1f} s) | {progress.line()}", file=sys.stderr, flush=True)


def execute_with_progress(sweep: Any, runs: list, backend: Any, prefix: str = "") -> list[StepResult] | None:
    """Run the sweep printing progress; on failed runs print the summary and return None (exit status 1)."""
    progress = Progress(len(runs), lambda: parallelism(backend))
    try:
        return run_sweep(sweep, runs=runs, on_step=lambda step: show_step(progress, step), backend=backend)
    except SweepFailed as exc:
        print(f"{prefix}{len(exc.failed)} of {len(exc.steps)} runs failed (the others finished):", file=sys.stderr)
        for line in failure_summary(exc.steps):
            print(f"{prefix}{line}", file=sys.stderr)
        return None


def _sweep_main(argv: list[str] | None, *, prog: str, protocol: str, default_config: str,
                other_tool: str) -> int:
    p = argparse.ArgumentParser(prog=prog, description=f"Run or resume a {protocol} sweep: finished runs are "
                                "skipped, unfinished ones resumed, missing ones trained.")
    p.add_argument("--config", "-c", default=default_config,
                   help=f"sweep YAML (default {default_config}; see configs/experiments/)")
    p.add_argument("--output-dir", "-o", help="sweep folder (same as output_dir=...)")
    p.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE", dest="run_overrides",
                   help="run-config override for every run, e.g. --set data.root=/data (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and each run's state; run nothing")
    p.add_argument("--report", action="store_true", help="print the report tables when the sweep is done")
    p.add_argument("overrides", nargs="*", help="sweep-config overrides, e.g. seeds=[1,2] datasets=[dtd,eurosat]")
    add_backend_args(p)
    args = p.parse_intermixed_args(argv)  # key=value may come before and after options

    def go() -> int:
        extra = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        sweep = load_sweep(args.config, extra, args.run_overrides)
        if sweep.protocol != protocol:
            raise ConfigError(f"{args.config} is a {sweep.protocol} sweep; run it with {other_tool}")
        runs = plan_sweep(sweep)
        if args.dry_run:
            for run, st in zip(runs, [inspect_run(r) for r in runs], strict=True):
                evals = f"  + eval {', '.join(e.name for e in run.evals)}" if run.evals else ""
                print(f"{st.state:10s} {run.run_dir}{evals}")
            return 0
        backend = make_backend(args)
        with shared_endpoint(runs, backend) as env:
            if env:
                backend.env.update(env)
                print(f"LLM endpoint of the sweep's catalyst runs: {env[ENV_URL]}", file=sys.stderr)
            steps = execute_with_progress(sweep, runs, backend)
        if steps is None:
            return 1
        counts = {a: sum(s.action == a for s in steps) for a in ("trained", "resumed", "skipped")}
        print(json.dumps({"output_dir": sweep.output_dir, "runs": len(steps), **counts}))
        if args.report:
            from vlcat.cli.report import main as report_main

            return report_main([sweep.output_dir])
        print(f"tables: vlcat-report {sweep.output_dir}", file=sys.stderr)
        return 0

    return run_guarded(go)


def fewshot_main(argv: list[str] | None = None) -> int:
    """``vlcat-fewshot``: few-shot sweeps, and cross-dataset / domain-generalisation ones (eval_targets)."""
    return _sweep_main(argv, prog="vlcat-fewshot", protocol="fewshot", default_config="experiments/fewshot.yaml",
                       other_tool="vlcat-base2novel")


def base2novel_main(argv: list[str] | None = None) -> int:
    """``vlcat-base2novel``: CoCoOp's base-to-novel generalisation sweep."""
    return _sweep_main(argv, prog="vlcat-base2novel", protocol="base2novel",
                       default_config="experiments/base2novel.yaml", other_tool="vlcat-fewshot")
