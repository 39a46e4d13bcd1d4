"""Command-line entry points (also installed as ``vlcat-*`` console scripts).

They parse arguments and call the library; every ``VlcatError`` becomes ``error: <one line>`` and exit
status 2 (130 for an interrupted run), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from vlcat import stopping
from vlcat.errors import VlcatError

_guard_depth = 0


def _interrupt(signum: int, frame: object) -> None:  # noqa: ARG001
    """SIGINT outside the trainer's and the sweep's own handlers: the command stops here, and the process is
    shielded first, so that a second Ctrl-C cannot land in the message below or in an ``atexit`` handler."""
    if stopping.exiting():
        stopping.ignore_further(signum, frame)
        return
    stopping.shield()
    raise KeyboardInterrupt


def _guard(fn: Callable[[], int | None]) -> int:
    """Run a command: one line and an exit status for every error, and for Ctrl-C however often it comes.

    While it runs, SIGINT goes to :func:`_interrupt` (the trainer and the sweep put their own handlers in
    front of it). A process stopped by a signal stays shielded (vlcat.stopping) through its last line, its
    exit and its ``atexit`` handlers (the LLM server's stop); otherwise the handler it found is put back.
    A stop requested in code (``RunInterrupted`` without a signal) shields nothing.
    """
    import signal
    import threading

    global _guard_depth
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if main:
        if _guard_depth == 0:
            stopping.reset()
        signal.signal(signal.SIGINT, _interrupt)
    _guard_depth += 1
    try:
        try:
            return fn() or 0
        except VlcatError as exc:  # RunInterrupted/SweepInterrupted after a signal: already shielded
            print(f"error: {exc}", file=sys.stderr)
            if stopping.exiting():
                stopping.last_line_said()
            return exc.exit_code
        except KeyboardInterrupt:
            stopping.shield()
            print("error: interrupted", file=sys.stderr)
            stopping.last_line_said()
            return 130
        except BrokenPipeError:  # `vlcat-fewshot --dry-run | head`: the reader left, nothing is wrong
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    finally:
        _guard_depth -= 1
        if main and not stopping.exiting() and previous is not None:
            signal.signal(signal.SIGINT, previous)


def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vlcat-train", description="Train and evaluate one prompt-tuning run.")
    p.add_argument("--config", "-c", action="append", default=[],
                   help="YAML config (repeatable; later files win); see configs/")
    p.add_argument("--output-dir", "-o", help="run folder (same as output_dir=...)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in the output folder")
    p.add_argument("--overwrite", action="store_true", help="delete a previous run in the output folder first")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=0.01 data.num_shots=4")
    args = p.parse_intermixed_args(argv)  # key=value may come before and after options

    def go() -> int:
        import vlcat.catalyst  # noqa: F401  registers the catalyst with the run loop
        from vlcat.config import load_config
        from vlcat.train.run import run_training

        overrides = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        files: list[str] | None = args.config or None
        if args.resume and files is None:
            # `--resume -o RUN` continues the run in RUN: its saved config is the base, overrides go on top
            # (and must still match it: run_training refuses a changed config).
            from pathlib import Path

            from vlcat.rundir import CONFIG

            run_dir = Path(load_config(None, overrides).output_dir)
            if (run_dir / CONFIG).is_file():
                files = [str(run_dir / CONFIG)]
        cfg = load_config(files, overrides)
        record = run_training(cfg, resume=args.resume, overwrite=args.overwrite)
        summary = {k: None if v["accuracy"] is None else round(v["accuracy"], 2) for k, v in record["metrics"].items()}
        print(json.dumps({"output_dir": cfg.output_dir, "method": record["method"], "accuracy": summary,
                          "prompt": record["prompt"]}))
        return 0

    return _guard(go)


def eval_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vlcat-eval", description="Evaluate a finished run on another split, "
                                "class subset or dataset.")
    p.add_argument("run", help="run folder written by vlcat-train")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--subsample", choices=["all", "base", "novel"], help="class subset (base-to-novel)")
    p.add_argument("--dataset", help="another dataset card (cross-dataset / domain generalisation)")
    p.add_argument("--root", help="data root for --dataset")
    p.add_argument("--name", help="name of the result file under <run>/eval/")
    p.add_argument("--output-dir", "-o", help="write the result JSON here instead of <run>/eval/ (a run folder "
                   "you cannot write; tools/report.py reads only <run>/eval/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the run's config")
    args = p.parse_intermixed_args(argv)  # key=value may come before and after options

    def go() -> int:
        from vlcat.train.run import evaluate_run

        res = evaluate_run(args.run, split=args.split, subsample=args.subsample, dataset=args.dataset,
                           root=args.root, name=args.name, overrides=args.overrides, out_dir=args.output_dir)
        print(json.dumps({"dataset": res["dataset"], "subsample": res["subsample"], "split": res["split"],
                          "accuracy": round(res["metrics"]["accuracy"], 2)}))
        return 0

    return _guard(go)


def _delegate(module: str, func: str) -> Callable[[list[str] | None], int]:
    def main(argv: list[str] | None = None) -> int:
        import importlib

        return getattr(importlib.import_module(module), func)(argv)

    return main


serve_llm_main = _delegate("vlcat.llm.cli", "main")
report_main = _delegate("vlcat.report_cli", "main")
base2novel_main = _delegate("vlcat.sweeps.cli", "base2novel_main")
fewshot_main = _delegate("vlcat.sweeps.cli", "fewshot_main")
import_checkpoint_main = _delegate("vlcat.interop.cli", "import_main")
export_classifier_main = _delegate("vlcat.interop.cli", "export_main")
check_data_main = _delegate("vlcat.data.doctor", "main")
