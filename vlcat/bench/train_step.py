"""One training step of a prompt learner two ways, same parameters and images (``tools/bench_train_step.py``):

(a) the reference recipe (image tower every step, full-length text tower; CoCoOp one prompt set per image);
(b) vlcat's (cached image features, truncated text tower sharing the SOS+context prefix).

Learners that take pixels (IVLP, MaPLe, VPT-deep, PromptSRC: prompts inside the image tower) run the image tower
forward and backward every step on both paths, as the authors' code does (PromptSRC also runs the frozen tower
forward on the batch, on both paths); only the text side differs (full-length
prompts with the deep prompts vs the truncated shared-prefix encoder), and :func:`bench_one` also times the
prompted image tower's forward and backward alone, to say what share of vlcat's step it is.

:func:`bench_one` times both, counts the activation memory autograd keeps for the backward pass, and returns
the logits' max difference, which must stay below 1e-4: the fast path is only a speed-up if it computes the
same step.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vlcat.learners import get_learner
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

#: Published batch size and context length per learner (CoCoOp: batch 1 in the paper; 8 is the benchmark's;
#: VPT-deep has no text context: its 8 is the vision tokens per layer).
DEFAULTS = {"coop": (32, 16), "cocoop": (8, 4), "kgcoop": (32, 4), "prograd": (32, 16), "ivlp": (4, 2),
            "maple": (4, 2), "vpt_deep": (4, 8), "promptsrc": (4, 4), "clip_adapter": (32, 0),
            "tip_adapter_f": (256, 0)}

TEXT_EVERY_STEP = {"clip_adapter"}
"""Learners without a context whose authors' forward still runs the text tower over every class prompt,
at full length, each step (CLIP-Adapter's ``CustomCLIP.forward`` calls ``encode_text``); vlcat encodes the
hand-written prompts once. Tip-Adapter-F's authors encode the class weights once, so only its images differ."""

CACHE_SHOTS = 16
"""Images per class in Tip-Adapter-F's cache (the 16-shot setting): the keys the step multiplies."""


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
    """One path's median step time, the MB autograd saved (and the CUDA peak on a GPU), and its logits."""

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


def build(name: str, clip: Any, names: list[str], n_ctx: int, fast_text: bool) -> PromptLearner:
    cls = get_learner(name).cls
    if cls.inputs == "pixels":
        return build_pixel_learner(name, clip, names, n_ctx, fast_text)
    if cls.has_context:
        return cls(clip, names, n_ctx=n_ctx, fast_text=fast_text).to(clip.device)
    learner = cls(clip, names).to(clip.device)  # an adapter: no prompt to encode either way
    if learner.training_views():  # Tip-Adapter-F: a cache of CACHE_SHOTS random images per class
        g = torch.Generator(device="cpu").manual_seed(2)
        labels = torch.arange(len(names)).repeat_interleave(CACHE_SHOTS)
        learner.start_training(torch.randn(1, len(labels), learner.weights.shape[-1], generator=g), labels)
    return learner


def build_pixel_learner(name: str, clip: Any, names: list[str], n_ctx: int, fast_text: bool) -> PromptLearner:
    """A deep prompt learner at its released depths, capped at the model's layers (small bench models)."""
    cls = get_learner(name).cls
    text_layers = len(clip.model.transformer.resblocks) if hasattr(clip.model, "transformer") else 12
    image_layers = len(clip.model.visual.transformer.resblocks) if hasattr(clip.model.visual, "transformer") else 12
    if name == "vpt_deep":
        return cls(clip, names, n_ctx_vision=n_ctx, depth=min(12, image_layers)).to(clip.device)
    if name == "maple":
        return cls(clip, names, n_ctx=n_ctx, depth=min(9, text_layers, image_layers),
                   fast_text=fast_text).to(clip.device)
    if name == "promptsrc":  # 4 + 4 tokens, depth 9 in both towers
        return cls(clip, names, n_ctx=n_ctx, n_ctx_vision=n_ctx, text_depth=min(9, text_layers),
                   vision_depth=min(9, image_layers), fast_text=fast_text).to(clip.device)
    return cls(clip, names, n_ctx=n_ctx, text_depth=min(12, text_layers), vision_depth=min(12, image_layers),
               fast_text=fast_text).to(clip.device)


def _pair(name: str, clip: Any, n_classes: int, batch: int, n_ctx: int) -> tuple[Any, ...]:
    """(class names, vlcat's learner, the reference-path learner with the same parameters, images, labels):
    what both benchmarks start from, seeded so that every learner sees the same batch."""
    names = class_names(n_classes)
    torch.manual_seed(0)
    fast = build(name, clip, names, n_ctx, fast_text=True)
    ref = build(name, clip, names, n_ctx, fast_text=False)
    ref.load_trainable_state(fast.trainable_state())
    size = clip.preprocess["size"]
    g = torch.Generator(device="cpu").manual_seed(1)
    images = torch.randn(batch, 3, size, size, generator=g).to(clip.device)
    labels = torch.randint(0, n_classes, (batch,), generator=g).to(clip.device)
    return names, fast, ref, images, labels


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_one(name: str, clip: Any, n_classes: int, batch: int, n_ctx: int, repeats: int) -> dict[str, Any]:
    if get_learner(name).cls.inputs == "pixels":
        return bench_pixels(name, clip, n_classes, batch, n_ctx, repeats)
    names, fast, ref, images, labels = _pair(name, clip, n_classes, batch, n_ctx)
    device = clip.device
    image_passes = 2 if name == "prograd" else 1  # ProGrad's zero-shot teacher encodes the images again

    def encode() -> torch.Tensor:
        with torch.no_grad():
            return clip.model.encode_image(images).float()

    cached = encode()

    def step(learner: PromptLearner, feats_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        for p in learner.parameters():
            p.grad = None
        out = learner.training_loss(feats_fn(), labels)
        learner.backward(out)
        _sync(device)
        return out.logits.detach()

    ids = clip.tokenizer([ref.template.format(n) for n in names]).to(device) if name in TEXT_EVERY_STEP else None

    def reference_features() -> torch.Tensor:
        feats = [encode() for _ in range(image_passes)]
        if ids is not None:  # the frozen text tower at full length, every step (no graph: nothing in it trains)
            with torch.no_grad():
                ref.text = clip.model.encode_text(ids).float()
        return feats[0]

    step(fast, lambda: cached)  # warm-up (allocations, kernels)
    a = measure(lambda: step(ref, reference_features), repeats, device)
    b = measure(lambda: step(fast, lambda: cached), repeats, device)
    return {"learner": name, "classes": n_classes, "batch": batch, "n_ctx": n_ctx, "ref": a, "fast": b,
            "diff": (a.logits - b.logits).abs().max().item()}


def bench_pixels(name: str, clip: Any, n_classes: int, batch: int, n_ctx: int, repeats: int) -> dict[str, Any]:
    """A pixel learner's step both ways (the image tower with its prompts forward and backward on both), and the
    prompted image tower alone (``tower``: its forward and backward, no text side), the same images."""
    names, fast, ref, images, labels = _pair(name, clip, n_classes, batch, n_ctx)
    device = clip.device

    def step(learner: PromptLearner) -> torch.Tensor:
        for p in learner.parameters():
            p.grad = None
        out = learner.training_loss(images, labels)
        learner.backward(out)
        _sync(device)
        return out.logits.detach()

    def tower_only() -> torch.Tensor:
        for p in fast.parameters():
            p.grad = None
        feats = fast.image_features(images)
        feats.float().square().mean().backward()
        _sync(device)
        return feats.detach()

    step(fast)  # warm-up (allocations, kernels; PromptSRC's frozen template features, computed on first use)
    step(ref)
    a = measure(lambda: step(ref), repeats, device)
    b = measure(lambda: step(fast), repeats, device)
    tower = measure(tower_only, repeats, device)
    return {"learner": name, "classes": n_classes, "batch": batch, "n_ctx": n_ctx, "ref": a, "fast": b,
            "tower": tower, "diff": (a.logits - b.logits).abs().max().item()}
