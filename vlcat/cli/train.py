"""``vlcat-train`` and ``vlcat-eval`` (``tools/train.py``, ``tools/eval.py``): one run, trained or evaluated.

Argument parsing only; the work is in :mod:`vlcat.train.run`, errors go through :func:`run_guarded`.
"""

from __future__ import annotations

import argparse
import json

from vlcat.cli.guard import run_guarded


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

    return run_guarded(go)


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

    return run_guarded(go)
