"""Time one training step of each prompt learner: the reference recipe vs vlcat's, same process, same numbers.

(a) reference-style, as the authors' code does it: the image tower runs on the batch every step (twice for
    ProGrad, whose zero-shot teacher encodes the images again) and every prompt goes through the text
    tower at full length (77 tokens): C class prompts for CoOp, KgCoOp and ProGrad, B x C for CoCoOp
    (one set of class prompts per image);
(b) vlcat: image features come from the cache (computed once per augmentation view), the text tower runs
    truncated to the longest EOT and shares the SOS+context prefix (one prefix per image for CoCoOp).

Both paths start from the same parameters and images and run the learner's own loss and backward. For
each learner and class count the script prints the step time of each path, the ratio, the activation
memory each path keeps for the backward pass (bytes of the tensors autograd saves; plus the CUDA peak on
a GPU), and the max difference of the logits (must stay below 1e-4).

    python tools/bench_train_step.py                           # ViT-B-16, random weights, 100 classes
    python tools/bench_train_step.py --learners cocoop         # CoCoOp: batch 8, 4 context vectors
    python tools/bench_train_step.py --classes 100,400,1000    # how each path grows with the classes
    python tools/bench_train_step.py --model vlcat-toy --classes 48 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vlcat.clip import load_clip
from vlcat.learners import get_learner, learner_entries
from vlcat.learners.base import PromptLearner

WORDS = (
    "apple aquarium fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn mower leopard lion lizard lobster "
    "man maple tree motorcycle mountain mouse mushroom oak tree orange orchid otter palm tree pear pickup truck "
    "pine tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow tree wolf woman worm"
).split()

#: Published batch size and context length per learner (CoCoOp: batch 1 in the paper; 8 is the benchmark's).
DEFAULTS = {"coop": (32, 16), "cocoop": (8, 4), "kgcoop": (32, 4), "prograd": (32, 16)}


def class_names(n: int) -> list[str]:
    """n distinct names of 1-3 words (mimicking real datasets' token lengths), for any n.

    The first ~200 are single words and word pairs drawn by a fixed stride; after that every unused
    ordered pair of distinct words follows, so 1000 (ImageNet) or more classes are always reachable.
    """
    vocab = list(dict.fromkeys(WORDS))
    names: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if name not in seen and len(names) < n:
            seen.add(name)
            names.append(name)

    for i in range(3 * len(WORDS)):
        w = WORDS[i % len(WORDS)]
        extra = WORDS[(i * 7 + 3) % len(WORDS)] if i % 3 == 0 else ""
        add(f"{w} {extra}".strip() if i >= len(WORDS) or extra else w)
    for a in vocab:
        for b in vocab:
            if a != b:
                add(f"{a} {b}")
    if len(names) < n:
        raise SystemExit(f"error: at most {len(names)} distinct class names can be generated")
    return names


@dataclass
class PathResult:
    seconds: float
    saved_mb: float
    peak_mb: float | None
    logits: torch.Tensor


def measure(step: Callable[[], torch.Tensor], repeats: int, device: torch.device) -> PathResult:
    """Median time of ``step`` over 1 + ``repeats`` runs (the first one also counts the activation bytes
    autograd saves, and the CUDA peak)."""
    saved: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        saved[key] = t.untyped_storage().nbytes()
        return t

    peak = None
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = step()
    times = [time.perf_counter() - t0]
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return PathResult(statistics.median(times), sum(saved.values()) / 2**20, peak, logits)


def build(name: str, clip, names: list[str], n_ctx: int, fast_text: bool) -> PromptLearner:
    return get_learner(name).cls(clip, names, n_ctx=n_ctx, fast_text=fast_text).to(clip.device)


def bench_one(name: str, clip, n_classes: int, batch: int, n_ctx: int, repeats: int) -> dict:
    names = class_names(n_classes)
    torch.manual_seed(0)
    fast = build(name, clip, names, n_ctx, fast_text=True)
    ref = build(name, clip, names, n_ctx, fast_text=False)
    ref.load_trainable_state(fast.trainable_state())
    device = clip.device
    size = clip.preprocess["size"]
    g = torch.Generator(device="cpu").manual_seed(1)
    images = torch.randn(batch, 3, size, size, generator=g).to(device)
    labels = torch.randint(0, n_classes, (batch,), generator=g).to(device)
    image_passes = 2 if name == "prograd" else 1  # ProGrad's zero-shot teacher encodes the images again

    def encode() -> torch.Tensor:
        with torch.no_grad():
            return clip.model.encode_image(images).float()

    cached = encode()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(learner: PromptLearner, feats_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        for p in learner.parameters():
            p.grad = None
        out = learner.training_loss(feats_fn(), labels)
        learner.backward(out)
        sync()
        return out.logits.detach()

    def reference_features() -> torch.Tensor:
        feats = [encode() for _ in range(image_passes)]
        return feats[0]

    step(fast, lambda: cached)  # warm-up (allocations, kernels)
    a = measure(lambda: step(ref, reference_features), repeats, device)
    b = measure(lambda: step(fast, lambda: cached), repeats, device)
    return {"learner": name, "classes": n_classes, "batch": batch, "n_ctx": n_ctx, "ref": a, "fast": b,
            "diff": (a.logits - b.logits).abs().max().item()}


def _mem(r: PathResult) -> str:
    return f"{r.saved_mb:8.1f}" + (f" / {r.peak_mb:8.1f}" if r.peak_mb is not None else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trainable = [e.name for e in learner_entries() if e.cls.trained_by == "gradient"]
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--learners", default=",".join(trainable), help=f"comma-separated, of: {', '.join(trainable)}")
    p.add_argument("--classes", default="100", help="comma-separated class counts, e.g. 100,400,1000")
    p.add_argument("--batch", type=int, default=0, help="batch size (0 = per learner: CoCoOp 8, others 32)")
    p.add_argument("--n-ctx", type=int, default=0, help="context vectors (0 = per learner: CoOp/ProGrad 16, "
                                                        "CoCoOp/KgCoOp 4)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs after the first (which also counts memory)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

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
    clip = load_clip(args.model, device=args.device)
    print(f"model {clip.model_id}, device {clip.device}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats + 1}; memory = MB autograd keeps for backward"
          + (" / CUDA peak MB" if clip.device.type == "cuda" else ""))
    print(f"{'learner':8} {'classes':>7} {'batch':>5} {'n_ctx':>5} | {'(a) ref ms':>11} {'(b) vlcat ms':>12} "
          f"{'ratio':>7} | {'mem (a)':>8} {'mem (b)':>8} | max|dlogit|")
    for name in learners:
        batch, n_ctx = DEFAULTS.get(name, (32, 16))
        batch, n_ctx = args.batch or batch, args.n_ctx or n_ctx
        for c in counts:
            r = bench_one(name, clip, c, batch, n_ctx, args.repeats)
            a, b = r["ref"], r["fast"]
            flag = "" if r["diff"] <= 1e-4 else "  <-- above 1e-4"
            print(f"{name:8} {c:7d} {batch:5d} {n_ctx:5d} | {a.seconds * 1000:11.1f} {b.seconds * 1000:12.1f} "
                  f"{a.seconds / b.seconds:6.1f}x | {_mem(a)} {_mem(b)} | {r['diff']:.1e}{flag}", flush=True)


if __name__ == "__main__":
    main()
