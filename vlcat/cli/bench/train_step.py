"""Time one training step of each prompt learner: the reference recipe vs vlcat's, same process, same numbers.

(a) reference-style, as the authors' code does it: the image tower runs on the batch every step (twice for
    ProGrad, whose zero-shot teacher encodes the images again) and every prompt goes through the text
    tower at full length (77 tokens): C class prompts for CoOp, KgCoOp and ProGrad, B x C for CoCoOp
    (one set of class prompts per image);
(b) vlcat: image features come from the cache (computed once per augmentation view), the text tower runs
    truncated to the longest EOT and shares the SOS+context prefix (one prefix per image for CoCoOp).
The adapters have no prompt: CLIP-Adapter's reference step runs the image tower and, as its authors'
forward does, the text tower over every class prompt at full length; Tip-Adapter-F's runs the image tower
(its authors encode the class weights once) and multiplies a cache of 16 images per class. vlcat's step
is the adapter alone on cached features, so the ratio is what caching the image tower (and the text) saves.

Learners that take pixels (IVLP, MaPLe, VPT-deep, PromptSRC) run the image tower with their prompts forward and backward
every step on both paths, as the authors' code does; the paths differ on the text side only (VPT-deep's text is
fixed: no difference), and the last column says what share of vlcat's step the prompted image tower takes.

Both paths start from the same parameters and images and run the learner's own loss and backward. For
each learner and class count the script prints the step time of each path, the ratio, the activation
memory each path keeps for the backward pass (bytes of the tensors autograd saves; plus the CUDA peak on
a GPU), and the max difference of the logits (must stay below 1e-4).

    python tools/bench_train_step.py                           # ViT-B-16, random weights, 100 classes
    python tools/bench_train_step.py --learners cocoop         # CoCoOp: batch 8, 4 context vectors
    python tools/bench_train_step.py --classes 100,400,1000    # how each path grows with the classes
    python tools/bench_train_step.py --model vlcat-toy --classes 48 --threads 1
    python tools/bench_train_step.py --learners ivlp,maple,vpt_deep --model-config configs/models/small_vit_bench.json
"""

from __future__ import annotations

import argparse

import torch

from vlcat.bench.train_step import DEFAULTS, PathResult, bench_one
from vlcat.clip import load_clip
from vlcat.learners import learner_entries


def _mem(r: PathResult) -> str:
    return f"{r.saved_mb:8.1f}" + (f" / {r.peak_mb:8.1f}" if r.peak_mb is not None else "")


def _tower(r: dict) -> str:
    """The prompted image tower's forward + backward alone, as a share of vlcat's whole step (pixel learners)."""
    tower = r.get("tower")
    if tower is None:
        return ""
    return f" | {tower.seconds * 1000:.1f} ms = {100 * tower.seconds / r['fast'].seconds:.0f} %"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainable = [e.name for e in learner_entries() if e.cls.trained_by == "gradient"]
    with_context = {e.name for e in learner_entries() if e.cls.has_context or e.cls.inputs == "pixels"}
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--model-config", default=None, help="an open_clip model config (JSON file) instead of --model's "
                                                         "registered one, random weights (e.g. a small ViT for CPU)")
    p.add_argument("--learners", default=",".join(trainable), help=f"comma-separated, of: {', '.join(trainable)}")
    p.add_argument("--classes", default="100", help="comma-separated class counts, e.g. 100,400,1000")
    p.add_argument("--batch", type=int, default=0, help="batch size (0 = per learner: CoCoOp 8, IVLP/MaPLe/VPT-deep/"
                                                        "PromptSRC 4, Tip-Adapter-F 256, others 32)")
    p.add_argument("--n-ctx", type=int, default=0, help="context vectors (0 = per learner: CoOp/ProGrad 16, "
                                                        "CoCoOp/KgCoOp 4, IVLP/MaPLe 2, PromptSRC 4 + 4 vision; "
                                                        "VPT-deep: 8 vision tokens; the adapters have none)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs after the first (which also counts memory)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)

    learners = [s.strip() for s in args.learners.split(",") if s.strip()]
    bad = [n for n in learners if n not in trainable]
    if bad:
        raise SystemExit(f"error: --learners {bad[0]!r} is not one of: {', '.join(trainable)}")
    try:
        counts = [int(c) for c in args.classes.split(",")]
    except ValueError:
        raise SystemExit(f"error: --classes must be comma-separated integers, got {args.classes!r}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clip = load_clip(args.model, model_config=args.model_config, device=args.device)
    print(f"model {clip.model_id}, device {clip.device}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats + 1}; memory = MB autograd keeps for backward"
          + (" / CUDA peak MB" if clip.device.type == "cuda" else ""))
    width = max(8, *(len(n) for n in learners))
    print(f"{'learner':{width}} {'classes':>7} {'batch':>5} {'n_ctx':>5} | {'(a) ref ms':>11} {'(b) vlcat ms':>12} "
          f"{'ratio':>7} | {'mem (a)':>8} {'mem (b)':>8} | max|dlogit| | image tower share of (b)")
    for name in learners:
        batch, n_ctx = DEFAULTS.get(name, (32, 16))
        batch, n_ctx = args.batch or batch, (args.n_ctx or n_ctx) if name in with_context else 0
        for c in counts:
            r = bench_one(name, clip, c, batch, n_ctx, args.repeats)
            a, b = r["ref"], r["fast"]
            flag = "" if r["diff"] <= 1e-4 else "  <-- above 1e-4"
            print(f"{name:{width}} {c:7d} {batch:5d} {n_ctx or '-':>5} | {a.seconds * 1000:11.1f} "
                  f"{b.seconds * 1000:12.1f} "
                  f"{a.seconds / b.seconds:6.1f}x | {_mem(a)} {_mem(b)} | {r['diff']:.1e}{flag}{_tower(r)}",
                  flush=True)
    return 0
