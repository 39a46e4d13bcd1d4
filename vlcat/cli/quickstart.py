"""The offline quickstart: everything a newcomer needs to see vlcat work, in one command, no download.

Steps: write the embedded world's dataset, start (or reuse) the local vLLM server with the default model,
run the base-to-novel sweep of configs/experiments/quickstart.yaml (zero-shot, CoOp, CoOp + catalyst),
print the Base/Novel/HM table, write the plots, and stop the server if this command started it. Every
step is resumable: a second invocation reuses the dataset, the finished runs and a running server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from vlcat.cli.guard import run_guarded
from vlcat.cli.sweep_options import add_backend_args, make_backend


def _say(step: str) -> None:
    print(f"[quickstart] {step}", file=sys.stderr, flush=True)


def setup_lines(now: float | None = None) -> list[str]:
    """Where the time of ``make quickstart`` went: the setup steps this make ran (from the log the Makefile
    writes, ``VLCAT_SETUP_LOG``) and the total since make started (``VLCAT_MAKE_T0``). Empty when the
    quickstart was not started by make. Why: a newcomer's first command must be fast, and a regression in
    setup time is only fixed once it is seen."""
    t0_text = os.environ.get("VLCAT_MAKE_T0")
    if not t0_text:
        return []
    try:
        t0 = float(t0_text)
    except ValueError:
        return []
    steps = []
    with contextlib.suppress(OSError):
        for line in Path(os.environ.get("VLCAT_SETUP_LOG", "")).read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and float(parts[2]) >= t0:
                steps.append(f"{parts[0]} {parts[1]} s")
    total = (time.time() if now is None else now) - t0
    setup = f"setup this time: {', '.join(steps)}" if steps else "setup: everything was already installed"
    return [f"{setup}; make quickstart took {total // 60:.0f} min {total % 60:02.0f} s in all"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vlcat-quickstart", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", "-c", default="experiments/quickstart.yaml")
    p.add_argument("--output-dir", "-o", help="sweep folder (default: the config's output_dir)")
    p.add_argument("--data-root", help="where to write the generated dataset (default: <cache>/data)")
    p.add_argument("--llm-model", help="model to serve instead of the default (HF id or folder)")
    p.add_argument("--llm-url", help="use this OpenAI-compatible endpoint (…/v1) instead of a local server")
    p.add_argument("--keep-server", action="store_true", help="leave a server this command started running")
    p.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE", dest="run_overrides",
                   help="run-config override for every run (repeatable)")
    p.add_argument("overrides", nargs="*", help="sweep-config overrides, e.g. seeds=[1,2,3]")
    add_backend_args(p)
    args = p.parse_intermixed_args(argv)  # key=value may come before and after options

    def go() -> int:
        from vlcat.cli.sweeps import execute_with_progress
        from vlcat.llm.serve import ServerHandle
        from vlcat.report import make_report
        from vlcat.sweeps import load_sweep, plan_sweep
        from vlcat.synth.dataset import build_synth_dataset
        from vlcat.train.run import default_cache_dir

        t0 = time.perf_counter()
        backend = make_backend(args)  # a missing Ray is a one-line error before any work
        extra = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        data_root = Path(args.data_root) if args.data_root else default_cache_dir() / "data"
        _say(f"1/4 writing the offline dataset under {data_root}")
        build_synth_dataset(data_root)

        _say("2/4 LLM server: reusing a running one or starting vLLM (about 1-2 min on a CPU)")
        from vlcat.catalyst.endpoint import start_for
        from vlcat.config import LLMConfig
        from vlcat.llm.endpoint import ENV_API_KEY, decide_endpoint

        # the one way vlcat starts a server (as a run or a sweep would), with this command's model
        api_key = os.environ.get(ENV_API_KEY)
        decided = decide_endpoint(args.llm_url, args.llm_model, api_key=api_key,
                                  start=lambda: start_for(LLMConfig(model=args.llm_model), api_key))
        handle = decided.handle or ServerHandle(url=decided.url, model=decided.model or "", pid=None,
                                                log_path=None, served_name=decided.model or "")
        if decided.source == "started":
            _say(f"    started {handle.served_name} at {handle.url} (log {handle.log_path})")
        else:
            _say(f"    using {handle.served_name or 'the server'} at {handle.url} ({decided.source})")
        try:
            run_over = [f"data.root={data_root}", f"llm.base_url={handle.url}", f"llm.model={handle.served_name}",
                        *args.run_overrides]
            sweep = load_sweep(args.config, extra, run_over)
            runs = plan_sweep(sweep)
            _say(f"3/4 {len(runs)} runs (zero-shot, CoOp, CoOp + catalyst) -> {sweep.output_dir}")

            # The runs are given the one endpoint decided above (llm.base_url), on either backend.
            if execute_with_progress(sweep, runs, backend, prefix="[quickstart] ") is None:
                return 1
        finally:
            if handle.owned and not args.keep_server:
                handle.stop()
                _say("    stopped the LLM server it started")
        _say("4/4 report")
        markdown, written, problems = make_report([sweep.output_dir], str(Path(sweep.output_dir) / "report"))
        for msg in problems:
            _say(f"    warning: {msg}")
        print(markdown)
        from vlcat.catalyst.console import digest

        catalyst_runs = [r.run_dir for r in runs if r.config.catalyst.enabled]
        if catalyst_runs:
            for line in digest(catalyst_runs):
                _say(line)
        for path in written:
            _say(f"    wrote {path}")
        _say(f"done in {time.perf_counter() - t0:.0f} s")
        for line in setup_lines():
            _say(line)
        return 0

    return run_guarded(go)
