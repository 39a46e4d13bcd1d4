"""Pretrain the embedded toy CLIP (vlcat-toy) and write its assets; all logic is in vlcat.synth.pretrain."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vlcat.synth.pretrain import PretrainConfig, pretrain, reevaluate
from vlcat.synth.toy_model import ASSETS_DIR


def main(argv: list[str] | None = None) -> int:
    d = PretrainConfig()
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--device", default=d.device, help='where the model trains: "cpu" or "cuda"')
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--out-dir", type=Path, default=ASSETS_DIR, help="where the three asset files go")
    p.add_argument("--data-root", type=Path, default=None, help="where synth_shapes is written (default: temp)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue from the assets in this folder (architecture, normalisation, weights) "
                        "instead of a random model; the record names them by sha256")
    p.add_argument("--lock-image", action="store_true",
                   help="train the text tower only (locked-image tuning): image features stay the init's")
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
    cfg = PretrainConfig(seed=a.seed, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
                         warmup_steps=a.warmup_steps, weight_decay=a.weight_decay, threads=a.threads,
                         workers=a.workers, device=a.device, eval_every=a.eval_every, max_minutes=a.max_minutes,
                         out_dir=a.out_dir, data_root=a.data_root, init_from=a.init_from,
                         lock_image=a.lock_image)
    command = " ".join(["tools/pretrain_toy_clip.py", *(sys.argv[1:] if argv is None else argv)])
    record = pretrain(cfg, progress=not a.no_progress, command=command)
    print(json.dumps({"train_seconds": record["train_seconds"], "zero_shot": record["zero_shot"]}, indent=2))
    return 0

