"""Time one CoOp training step: the reference recipe vs vlcat's, in the same process, same numbers.

(a) reference-style: the image tower runs on the batch every step and all class prompts go through the
    text tower at full length (77 tokens), as CoOp's code does;
(b) vlcat: image features come from the cache (computed once per augmentation view), the text tower
    runs truncated to the longest EOT and shares the SOS+context prefix across classes.

Both steps start from the same context and images; the script prints the time of each, the ratio, the
split of (a) into image and text time, and the max difference of the logits and of the gradients.

    python tools/bench_train_step.py                  # ViT-B-16, random weights, 100 classes
    python tools/bench_train_step.py --model vlcat-toy --classes 48
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from vlcat.clip import load_clip
from vlcat.learners.coop import CoOp

WORDS = (
    "apple aquarium fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn mower leopard lion lizard lobster "
    "man maple tree motorcycle mountain mouse mushroom oak tree orange orchid otter palm tree pear pickup truck "
    "pine tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow tree wolf woman worm"
).split()


def class_names(n: int) -> list[str]:
    """n distinct names of 1-3 words (mimicking real datasets' token lengths)."""
    names = []
    i = 0
    while len(names) < n:
        w = WORDS[i % len(WORDS)]
        extra = WORDS[(i * 7 + 3) % len(WORDS)] if i % 3 == 0 else ""
        name = f"{w} {extra}".strip() if i >= len(WORDS) or extra else w
        if name not in names:
            names.append(name)
        i += 1
    return names


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--n-ctx", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clip = load_clip(args.model, device=args.device)
    names = class_names(args.classes)
    fast = CoOp(clip, names, n_ctx=args.n_ctx).to(clip.device)
    ref = CoOp(clip, names, n_ctx=args.n_ctx, fast_text=False).to(clip.device)
    ref.ctx.data.copy_(fast.ctx.data)
    size = clip.preprocess["size"]
    images = torch.randn(args.batch, 3, size, size, device=clip.device)
    labels = torch.randint(0, args.classes, (args.batch,), device=clip.device)
    with torch.no_grad():
        cached = clip.model.encode_image(images).float()  # what the feature cache holds

    def sync() -> None:
        if clip.device.type == "cuda":
            torch.cuda.synchronize()

    def step(learner: CoOp, image_feats_fn) -> tuple[torch.Tensor, torch.Tensor]:
        learner.ctx.grad = None
        feats = image_feats_fn()
        logits = learner.logits(feats)
        F.cross_entropy(logits, labels).backward()
        sync()
        return logits.detach(), learner.ctx.grad.detach().clone()

    def encode_images() -> torch.Tensor:
        with torch.no_grad():
            return clip.model.encode_image(images).float()

    step(fast, lambda: cached)  # warm-up (allocations, kernels)
    t_img, _ = timed(lambda: (encode_images(), sync()), args.repeats)
    t_ref, (logits_ref, grad_ref) = timed(lambda: step(ref, encode_images), args.repeats)
    t_trunc_only, _ = timed(lambda: step(_truncate_only(fast), lambda: cached), args.repeats)
    t_fast, (logits_fast, grad_fast) = timed(lambda: step(fast, lambda: cached), args.repeats)

    n_tok = int(fast.pool_idx.max()) + 1
    print(f"model {args.model} (random weights), {args.classes} classes, batch {args.batch}, n_ctx {args.n_ctx}, "
          f"device {clip.device}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"  (a) reference step (image tower + 77-token text): {t_ref * 1000:9.1f} ms "
          f"(image tower {t_img * 1000:.1f} ms)")
    print(f"      cached features + truncated text ({n_tok} tokens): {t_trunc_only * 1000:9.1f} ms")
    print(f"  (b) vlcat step (cache + truncation + shared prefix): {t_fast * 1000:9.1f} ms")
    print(f"  speed-up (a)/(b): {t_ref / t_fast:.1f}x")
    print(f"  max |logits (a) - (b)|: {(logits_ref - logits_fast).abs().max().item():.2e}")
    print(f"  max |grad (a) - (b)|:   {(grad_ref - grad_fast).abs().max().item():.2e} "
          f"(grad scale {grad_ref.abs().max().item():.2e})")


class _truncate_only:  # noqa: N801 - a tiny view used only to time the middle variant
    """The same learner with the shared-prefix path switched off (truncation only)."""

    def __init__(self, learner: CoOp) -> None:
        self.learner = learner

    def __getattr__(self, name):
        return getattr(self.learner, name)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        lr = self.learner
        text = lr.encoder(lr.prompt_embeddings(), lr.pool_idx)
        return lr.logits(feats, text)


if __name__ == "__main__":
    main()
