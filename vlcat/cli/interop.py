"""``vlcat-import-checkpoint`` and ``vlcat-export-classifier``: argument parsing only, the work is in
:mod:`vlcat.interop.importer` and :mod:`vlcat.interop.export`; errors are one line and exit 2
(:func:`vlcat.cli.guard.run_guarded`)."""

from __future__ import annotations

import argparse
import json

from vlcat.cli.guard import run_guarded


def import_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vlcat-import-checkpoint",
        description="Turn a Dassl prompt-learner checkpoint (CoOp, CoCoOp, KgCoOp, ProGrad: "
                    "prompt_learner/model.pth.tar-N) into a vlcat run folder that vlcat-eval and vlcat-report use.")
    p.add_argument("checkpoint", help="a model.pth.tar-N file, or the Dassl output folder holding prompt_learner/")
    p.add_argument("--config", "-c", action="append", default=[],
                   help="YAML config saying the learner, dataset, classes and backbone (repeatable; later files win)")
    p.add_argument("--output-dir", "-o", help="run folder to write (same as output_dir=...)")
    p.add_argument("--epoch", type=int, help="which model.pth.tar-N of a folder (default: the highest N)")
    p.add_argument("--method", help="method label in the record and reports (default: <learner>-dassl)")
    p.add_argument("--overwrite", action="store_true", help="replace a vlcat run already in the output folder")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.subsample_classes=base")
    args = p.parse_intermixed_args(argv)

    def go() -> int:
        from vlcat.config import load_config
        from vlcat.interop.importer import import_checkpoint

        overrides = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        cfg = load_config(args.config or None, overrides)
        record = import_checkpoint(cfg, args.checkpoint, epoch=args.epoch, method=args.method,
                                   overwrite=args.overwrite)
        summary = {k: None if v["accuracy"] is None else round(v["accuracy"], 2) for k, v in record["metrics"].items()}
        print(json.dumps({"output_dir": cfg.output_dir, "method": record["method"], "imported": record["imported"],
                          "accuracy": summary}))
        return 0

    return run_guarded(go)


def export_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vlcat-export-classifier",
        description="Write a finished run's classifier for plain open_clip: classifier.safetensors (normalised "
                    "class weights) and classifier.json (model, pretrained tag, class names, logit scale).")
    p.add_argument("run", help="run folder written by vlcat-train or vlcat-import-checkpoint")
    p.add_argument("--out", "-o", help="folder for the two files (default <run>/export)")
    args = p.parse_intermixed_args(argv)

    def go() -> int:
        from vlcat.interop.export import export_classifier

        info = export_classifier(args.run, args.out)
        print(json.dumps({"model": info["model"], "pretrained": info["pretrained"], "classes": len(info["classnames"]),
                          "weights": info["weights"], "out": args.out or f"{args.run}/export"}))
        return 0

    return run_guarded(go)
