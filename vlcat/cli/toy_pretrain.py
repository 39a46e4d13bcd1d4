"""Pretrain the embedded toy CLIP (vlcat-toy) and write its assets; all logic is in vlcat.synth.pretrain.

With ``--distill-from DIR`` it distils the ViT toy (vlcat-toy-vit) from the toy in DIR instead
(vlcat.synth.distill): the committed one came from

    python tools/pretrain_toy_clip.py --distill-from vlcat/synth/assets --steps 3000 --threads 2 --workers 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vlcat.synth.pretrain import PretrainConfig, pretrain, reevaluate
from vlcat.synth.toy_model import ASSETS_DIR

_SCHEDULE = ("steps", "batch_size", "lr", "warmup_steps", "eval_every")
"""Options whose defaults differ between pretraining and distillation: None on the command line = the mode's."""


def main(argv: list[str] | None = None) -> int:
    d = PretrainConfig()
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--steps", type=int, default=None,
                   help="default: PretrainConfig's, or DistillConfig's with --distill-from")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--device", default=d.device, help='where the model trains: "cpu" or "cuda"')
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--out-dir", type=Path, default=ASSETS_DIR, help="where the three asset files go")
    p.add_argument("--data-root", type=Path, default=None, help="where synth_shapes is written (default: temp)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue from the assets in this folder (architecture, normalisation, weights) "
                        "instead of a random model; the record names them by sha256")
    p.add_argument("--lock-image", action="store_true",
                   help="train the text tower only (locked-image tuning): image features stay the init's")
    p.add_argument("--distill-from", type=Path, default=None,
                   help="train a ViT image tower that regresses the image embeddings of the toy CLIP in this "
                        "folder, keeping its text tower (writes the vlcat-toy-vit assets; see vlcat.synth.distill)")
    p.add_argument("--vision", default=None,
                   help="with --distill-from: the student's open_clip vision_cfg as JSON (default: "
                        "vlcat.synth.distill.DEFAULT_VISION)")
    p.add_argument("--distill-weight", type=float, default=None,
                   help="with --distill-from: weight of the 1 - cos term against the CLIP loss (default 10)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--eval-only", action="store_true",
                   help="recompute the record's zero-shot numbers for the assets in --out-dir, no training")
    a = p.parse_args(argv)
    if a.eval_only:
        record = reevaluate(a.out_dir, data_root=a.data_root)
        print(json.dumps(record["zero_shot"], indent=2))
        return 0
    if a.init_from is not None and not (a.init_from / "toy_clip.safetensors").is_file():
        print(f"error: --init-from {a.init_from} has no toy_clip.safetensors; give a folder with the three toy "
              "CLIP asset files", file=sys.stderr)
        return 2
    if a.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"error: --device {a.device} but torch sees no CUDA GPU here; use --device cpu", file=sys.stderr)
            return 2
    command = " ".join(["tools/pretrain_toy_clip.py", *(sys.argv[1:] if argv is None else argv)])
    if a.distill_from is not None:
        return _distill(a, command)
    schedule = {k: getattr(a, k) for k in _SCHEDULE if getattr(a, k) is not None}
    cfg = PretrainConfig(**schedule, weight_decay=a.weight_decay, threads=a.threads, seed=a.seed,
                         workers=a.workers, device=a.device, max_minutes=a.max_minutes,
                         out_dir=a.out_dir, data_root=a.data_root, init_from=a.init_from,
                         lock_image=a.lock_image)
    record = pretrain(cfg, progress=not a.no_progress, command=command)
    print(json.dumps({"train_seconds": record["train_seconds"], "zero_shot": record["zero_shot"]}, indent=2))
    return 0



def _distill(a: argparse.Namespace, command: str) -> int:
    from vlcat.synth.distill import VIT_ASSETS_DIR, DistillConfig, distill

    if not (a.distill_from / "toy_clip.safetensors").is_file():
        print(f"error: --distill-from {a.distill_from} has no toy_clip.safetensors; give a folder with the three "
              "toy CLIP asset files", file=sys.stderr)
        return 2
    if a.init_from is not None or a.lock_image:
        print("error: --distill-from trains a new image tower under the teacher's text tower; it does not combine "
              "with --init-from or --lock-image", file=sys.stderr)
        return 2
    d = DistillConfig()
    vision = d.vision
    if a.vision:
        try:
            vision = json.loads(a.vision)
        except json.JSONDecodeError as exc:
            print(f"error: --vision is not JSON ({exc.msg}); e.g. '{json.dumps(d.vision)}'", file=sys.stderr)
            return 2
    explicit = {k for k in _SCHEDULE if getattr(a, k) is not None}
    cfg = DistillConfig(
        teacher=a.distill_from, vision=vision, seed=a.seed, threads=a.threads, workers=a.workers,
        device=a.device, max_minutes=a.max_minutes, data_root=a.data_root, weight_decay=a.weight_decay,
        out_dir=a.out_dir if a.out_dir != ASSETS_DIR else VIT_ASSETS_DIR,
        distill_weight=a.distill_weight if a.distill_weight is not None else d.distill_weight,
        **{k: getattr(a, k) for k in explicit},
    )
    try:
        record = distill(cfg, progress=not a.no_progress, command=command)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"train_seconds": record["train_seconds"], "zero_shot": record["zero_shot"],
                      "teacher_zero_shot": record["teacher"]["zero_shot"]}, indent=2))
    return 0
