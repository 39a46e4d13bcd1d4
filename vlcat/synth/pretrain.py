"""Contrastive pretraining of the toy CLIP on the world's (image, caption) stream.

This is what lets vlcat run with no download: it turns the procedurally drawn world into a CLIP whose
zero-shot accuracy on the ``synth_shapes`` task is well above chance but below what prompt tuning
reaches. The result is three committed files (config, fp16 weights, training record) that load with
plain open_clip.

How long to train: the defaults (550 steps of 128) fit ~20 minutes on two CPU cores, but such a model
recognises shapes only about half the time, so its image features, not the prompt, cap every method.
The committed weights come from the command in their record: ~18,000 steps of 256 (4.6 M images) in
8 minutes on one GPU with 15 drawing workers, the drawing being the bottleneck (~9,600 images/s).

Continued pretraining (``init_from``): training can start from earlier assets instead of a random model,
keeping their architecture and normalisation. This is how a change of the stream (new scenes, new caption
words) reaches the model on a CPU in an hour rather than retraining for hours: the record names the
weights it started from (their sha256 and their own record's command), so the chain can be replayed.

Reproducibility: the stream is a pure function of (seed, index) and the model is initialised under the
seed (or from ``init_from``), so the same command gives the same weights up to the nondeterminism of float
reductions (and of ``--max-minutes``, which stops on wall time).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset
from tqdm import tqdm

from vlcat.rundir import atomic_write_bytes, atomic_write_text
from vlcat.synth.dataset import IMAGE_DIR, SPLIT_FILE, build_synth_dataset
from vlcat.synth.tasks import DEFAULT_TASK, TASKS, Task
from vlcat.synth.toy_model import ASSETS_DIR, build_clip, default_config, load_toy_clip, tokenizer
from vlcat.synth.world import (
    GENERATOR_VERSION,
    PRETRAIN_STREAM_VERSION,
    PRETRAIN_STYLE,
    pretrain_pair,
    render,
    rng_for,
    sample_scene,
)

HAND_TEMPLATE = "a photo of a {}."
"""The card's hand-written template; read from the card when it is available (see ``_card_templates``)."""

STYLE_AWARE_TEMPLATES = (
    "a drawing of a {}.",
    "a drawing of a {} on a striped background.",
)
"""Fallback style-aware prompts when the card (and its ``domain_prompts``) cannot be read. The record shows
how the card's hand-written domain prompts fare against the plain template: the wording lever."""

STREAM_STATS_SAMPLES = 512


@dataclass
class PretrainConfig:
    seed: int = 0
    steps: int = 550
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    threads: int = 2
    workers: int = 1
    """Processes drawing the stream while the model trains (0 draws in the training process). Drawing is
    the bottleneck on a GPU (~550 images/s per core here), so there use one worker per spare core."""
    device: str = "cpu"
    """Where the model trains ("cpu", "cuda", "cuda:1"); the stream and the final evaluation stay on the CPU,
    so the committed record is computed the same way wherever training ran."""
    eval_every: int = 100
    max_minutes: float | None = None
    """Stop early past this wall time (the record says so); a guard for shared machines, off by default."""
    out_dir: Path = ASSETS_DIR
    data_root: Path | None = None
    """Where the synth_shapes task is written for evaluation; a temporary folder by default."""
    n_val_per_class: int = 4
    n_test_per_class: int = 20
    """Evaluation split sizes; the defaults are those of ``build_synth_dataset``, i.e. the card's data."""
    in_style_per_class: int = 10
    lock_image: bool = False
    """Train the text side only (LiT's locked-image tuning): the image tower keeps its weights and its
    BatchNorm statistics, so image features, and with them every task's few-shot difficulty, stay exactly
    those of the ``init_from`` model, while the text tower learns the stream's new words."""
    init_from: Path | None = None
    """A folder with earlier assets (toy_clip.json, toy_clip.safetensors, toy_clip_record.json) to continue
    from: their architecture, normalisation and weights; None trains from a random model."""
    model: dict[str, Any] = field(default_factory=default_config)


# ---------------------------------------------------------------------------------------------- data


def stream_statistics(seed: int, size: int, n: int = STREAM_STATS_SAMPLES) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the pretraining stream, used as the model's normalisation."""
    pixels = np.stack([np.asarray(pretrain_pair(seed, i, size)[0], dtype=np.float64) / 255.0
                       for i in range(n)])
    mean = pixels.reshape(-1, 3).mean(0)
    std = pixels.reshape(-1, 3).std(0)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


class _StreamBatches(IterableDataset):
    """Batches of (uint8 images, token ids) for steps ``start..stop``; drawn in worker processes.

    With W workers, worker w draws steps w, w + W, ...; DataLoader takes batches from its workers in turn,
    so the model sees the same sequence of batches whatever W is.
    """

    def __init__(self, seed: int, start: int, stop: int, batch_size: int, size: int, context_length: int):
        super().__init__()
        self.seed, self.start, self.stop = seed, start, stop
        self.batch_size, self.size, self.context_length = batch_size, size, context_length

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from open_clip.tokenizer import SimpleTokenizer

        tok = SimpleTokenizer(context_length=self.context_length)
        cache: dict[str, torch.Tensor] = {}
        info = torch.utils.data.get_worker_info()
        first, every = (0, 1) if info is None else (info.id, info.num_workers)
        for step in range(self.start + first, self.stop, every):
            images, texts = [], []
            for j in range(self.batch_size):
                img, caption = pretrain_pair(self.seed, step * self.batch_size + j, self.size)
                images.append(np.asarray(img))
                if caption not in cache:
                    cache[caption] = tok([caption])[0]
                texts.append(cache[caption])
            yield torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.stack(texts)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def _normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - mean) / std


# ---------------------------------------------------------------------------------------------- model


def encode_text_truncated(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` on tokens cut after the last EOS: exact under the causal mask, ~2x cheaper."""
    length = int(tokens.argmax(dim=-1).max()) + 1
    t = tokens[:, :length]
    x = model.token_embedding(t) + model.positional_embedding[:length]
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0]), t.argmax(dim=-1)]
    proj = model.text_projection
    return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # Embeddings and gains are not decayed: most of the 49408 token rows never get a gradient here, and
    # decay would only shrink them towards zero for no benefit.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim < 2 or "embedding" in name or name.endswith("class_embedding") or name == "logit_scale"
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lock(model: torch.nn.Module, lock_image: bool) -> None:
    """Keep a locked image tower in eval mode: BatchNorm would otherwise update its running statistics."""
    if lock_image:
        model.visual.eval()


class _Schedule(Protocol):
    lr: float
    warmup_steps: int
    steps: int


def _lr_at(step: int, cfg: _Schedule) -> float:
    """Linear warm-up, then cosine to zero: the schedule of both the pretraining and the distillation."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------------------------------- evaluation


def _card_templates() -> tuple[str, list[str]]:
    """(hand-written template, ensemble) from the synth_shapes card, or the built-in fallback."""
    try:
        from vlcat.data.cards import resolve_card

        card = resolve_card("synth_shapes")
        return card.template, card.all_templates()
    except Exception:  # the card or its reader may be absent in a stripped install; the fallback is exact
        return HAND_TEMPLATE, [HAND_TEMPLATE]


def _style_aware_templates() -> list[str]:
    """The synth_shapes card's hand-written domain prompts (fixed before any measurement), or the fallback."""
    try:
        from vlcat.data.cards import resolve_card

        return list(resolve_card("synth_shapes").domain_prompts) or list(STYLE_AWARE_TEMPLATES)
    except Exception:  # as in _card_templates
        return list(STYLE_AWARE_TEMPLATES)


def _preprocess(config: dict[str, Any]):
    from open_clip.transform import image_transform

    pp = config["preprocess_cfg"]
    return image_transform(pp["size"], is_train=False, mean=tuple(pp["mean"]), std=tuple(pp["std"]),
                           interpolation=pp["interpolation"], resize_mode=pp["resize_mode"])


@torch.no_grad()
def class_weights(model: torch.nn.Module, config: dict[str, Any], classnames: Sequence[str],
                  templates: Sequence[str]) -> torch.Tensor:
    """Normalised text classifier, averaged over templates (CLIP's prompt ensemble)."""
    tok = tokenizer(config)
    device = next(model.parameters()).device
    per_template = []
    for t in templates:
        feats = model.encode_text(tok([t.format(c) for c in classnames]).to(device))
        per_template.append(F.normalize(feats, dim=-1))
    return F.normalize(torch.stack(per_template).mean(0), dim=-1)


@torch.no_grad()
def image_features(model: torch.nn.Module, config: dict[str, Any], images: Sequence[Image.Image],
                   batch_size: int = 256) -> torch.Tensor:
    pre = _preprocess(config)
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        batch = torch.stack([pre(im) for im in images[i:i + batch_size]]).to(device)
        out.append(F.normalize(model.encode_image(batch), dim=-1).cpu())
    return torch.cat(out)


def accuracy(feats: torch.Tensor, weights: torch.Tensor, labels: Sequence[int]) -> float:
    pred = (feats @ weights.to(feats.device).T).argmax(dim=-1)
    return float((pred == torch.as_tensor(labels)).float().mean())


def load_split(folder: Path, split: str) -> tuple[list[Image.Image], list[int], list[str]]:
    """Images, labels and the label-ordered class names of one split of a written synth dataset."""
    entries = json.loads((folder / SPLIT_FILE).read_text(encoding="utf-8"))[split]
    images = [Image.open(folder / IMAGE_DIR / rel).convert("RGB") for rel, _, _ in entries]
    names: dict[int, str] = {int(label): name for _, label, name in entries}
    return images, [int(label) for _, label, _ in entries], [names[i] for i in range(len(names))]


def in_style_images(task: Task, style_seed: int, per_class: int, size: int) -> tuple[list[Image.Image], list[int]]:
    """The task's classes drawn in the pretraining style: accuracy here minus on the task = the style gap."""
    images, labels = [], []
    for label, cls in enumerate(task.classes):
        for i in range(per_class):
            rng = rng_for(style_seed, 9000 + label, i)
            images.append(render(sample_scene(rng, PRETRAIN_STYLE, shape=cls.shape, colour=cls.colour), size))
            labels.append(label)
    return images, labels


def evaluate(model: torch.nn.Module, config: dict[str, Any], folder: Path, *, split: str = "test",
             seed: int = 0, in_style_per_class: int = 10) -> dict[str, Any]:
    """Zero-shot accuracies of ``model`` on a written synth_shapes split, for the training record."""
    images, labels, classnames = load_split(folder, split)
    template, ensemble = _card_templates()
    feats = image_features(model, config, images)
    result: dict[str, Any] = {
        "split": split,
        "n_images": len(images),
        "n_classes": len(classnames),
        "chance": 1.0 / len(classnames),
        "template": template,
        "accuracy": accuracy(feats, class_weights(model, config, classnames, [template]), labels),
        "ensemble": ensemble,
        "ensemble_accuracy": accuracy(feats, class_weights(model, config, classnames, ensemble), labels),
        "style_aware": {t: accuracy(feats, class_weights(model, config, classnames, [t]), labels)
                        for t in _style_aware_templates()},
    }
    clean, clean_labels = in_style_images(TASKS[DEFAULT_TASK], seed, in_style_per_class,
                                          config["preprocess_cfg"]["size"])
    result["pretrain_style_accuracy"] = accuracy(image_features(model, config, clean),
                                                 class_weights(model, config, classnames, [template]),
                                                 clean_labels)
    return result


# ---------------------------------------------------------------------------------------------- assets


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The full state dict, floats in fp16: keys exactly those of the open_clip ``CLIP`` the config builds.

    Integer buffers (BatchNorm's ``num_batches_tracked``) keep their dtype.
    """
    from safetensors.torch import save_file

    state = {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
             for k, v in model.state_dict().items()}
    # atomic (a killed pretraining never leaves half an asset); readable by everyone under the usual umask
    atomic_write_bytes(path, lambda p: save_file(state, p, metadata={"format": "pt"}))


def save_json(data: dict[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- training


def _summarise_losses(losses: list[float], every: int = 25) -> list[list[float]]:
    return [[i + min(every, len(losses) - i), round(float(np.mean(losses[i:i + every])), 4)]
            for i in range(0, len(losses), every)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _RunShape(_Schedule, Protocol):
    seed: int
    batch_size: int
    weight_decay: float
    grad_clip: float
    threads: int
    workers: int


def _task_folder(data_root: Path | None, seed: int, size: int, **sizes: int
                 ) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """The synth_shapes task the model is evaluated on, under ``data_root`` or in a temporary folder
    (returned too, so that the caller removes it once the record is written)."""
    tmp = None
    if data_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="vlcat-synth-")
        data_root = Path(tmp.name)
    return build_synth_dataset(Path(data_root), seed=seed, image_size=size, **sizes), tmp


def _stream_loader(cfg: _RunShape, size: int, context_length: int, device: torch.device) -> DataLoader:
    """The stream's batches, drawn by ``cfg.workers`` processes while the model trains."""
    return DataLoader(
        _StreamBatches(cfg.seed, 0, cfg.steps, cfg.batch_size, size, context_length),
        batch_size=None, num_workers=cfg.workers, worker_init_fn=_worker_init if cfg.workers else None,
        prefetch_factor=4 if cfg.workers else None, pin_memory=device.type == "cuda",
    )


def _commit(model: torch.nn.Module, config: dict[str, Any], out_dir: Path, folder: Path, seed: int,
            in_style_per_class: int) -> dict[str, Any]:
    """Write the config and fp16 weights, then evaluate what was written (read back), not the fp32 model
    in memory: the record must describe the files users load."""
    model.eval()
    weights_path = out_dir / "toy_clip.safetensors"
    config_path = out_dir / "toy_clip.json"
    save_weights(model, weights_path)
    save_json(config, config_path)
    committed, _ = load_toy_clip(config_path, weights_path)
    return evaluate(committed, config, folder, split="test", seed=seed, in_style_per_class=in_style_per_class)


def _record_common(cfg: _RunShape, losses: list[float], train_seconds: float, stopped_early: bool,
                   device: torch.device, size: int) -> dict[str, Any]:
    """The record fields every training of a toy tower writes: its settings, cost, loss curve and versions."""
    import open_clip

    return {
        "seed": cfg.seed,
        "steps_planned": cfg.steps,
        "steps_done": len(losses),
        "stopped_early": stopped_early,
        "batch_size": cfg.batch_size,
        "images_seen": len(losses) * cfg.batch_size,
        "lr": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "grad_clip": cfg.grad_clip,
        "threads": cfg.threads,
        "workers": cfg.workers,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / max(1, len(losses)), 3),
        "images_per_second": round(len(losses) * cfg.batch_size / max(train_seconds, 1e-9), 1),
        "loss": {
            "first_25_mean": round(float(np.mean(losses[:25])), 4),
            "last_25_mean": round(float(np.mean(losses[-25:])), 4),
            "curve_every_25_steps": _summarise_losses(losses),
        },
        "zero_shot_generator_version": GENERATOR_VERSION,
        "dataset": {"name": "synth_shapes", "seed": cfg.seed, "image_size": size},
        "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__,
                     "python": platform.python_version()},
    }


def _init_source(folder: Path) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """(model, config, what the record says about it) of the assets training continues from."""
    folder = Path(folder)
    weights = folder / "toy_clip.safetensors"
    model, config = load_toy_clip(folder / "toy_clip.json", weights)
    previous: dict[str, Any] = {}
    if (folder / "toy_clip_record.json").is_file():
        previous = json.loads((folder / "toy_clip_record.json").read_text(encoding="utf-8"))
    source = {"weights_sha256": _sha256(weights), "command": previous.get("command"),
              "pretrain_stream_version": previous.get("pretrain_stream_version", 1),
              "images_seen": previous.get("images_seen_total", previous.get("images_seen")),
              "init_from": previous.get("init_from")}
    return model, config, source


def pretrain(cfg: PretrainConfig, *, progress: bool = True, command: str | None = None) -> dict[str, Any]:
    """Train, evaluate and write the three asset files into ``cfg.out_dir``; return the record."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    init_model, init_source = None, None
    if cfg.init_from is not None:
        # Read before anything is written: out_dir may be the folder training continues from.
        init_model, config, init_source = _init_source(Path(cfg.init_from))
        size = int(config["vision_cfg"]["image_size"])
        mean, std = config["preprocess_cfg"]["mean"], config["preprocess_cfg"]["std"]
    else:
        config = cfg.model
        size = int(config["vision_cfg"]["image_size"])
        mean, std = stream_statistics(cfg.seed, size)
        config["preprocess_cfg"].update({"size": size, "mean": mean, "std": std})

    folder, tmp_data = _task_folder(cfg.data_root, cfg.seed, size, n_val_per_class=cfg.n_val_per_class,
                                    n_test_per_class=cfg.n_test_per_class)
    val_images, val_labels, classnames = load_split(folder, "val")
    hand_template, _ = _card_templates()

    device = torch.device(cfg.device)
    model = (init_model if init_model is not None else build_clip(config)).to(device)
    model.train()
    if cfg.lock_image:
        model.visual.requires_grad_(False)
    _lock(model, cfg.lock_image)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98),
                                  eps=1e-6, fused=True)
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    batches = _stream_loader(cfg, size, int(config["text_cfg"]["context_length"]), device)

    losses: list[float] = []
    val_curve: list[list[float]] = []
    started = time.perf_counter()
    stopped_early = False
    bar = tqdm(batches, total=cfg.steps, desc="pretrain toy CLIP", disable=not progress, dynamic_ncols=True)
    for step, (images, tokens) in enumerate(bar):
        images = images.to(device, non_blocking=True)
        tokens = tokens.to(device, non_blocking=True)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        img = F.normalize(model.encode_image(_normalise(images, mean_t, std_t)), dim=-1)
        txt = F.normalize(encode_text_truncated(model, tokens), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        target = torch.arange(len(img), device=device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
        scale = float(model.logit_scale.detach().exp())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", scale=f"{scale:.1f}")
        last = step + 1 == cfg.steps
        if cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or last):
            model.eval()
            w = class_weights(model, config, classnames, [hand_template])
            val_curve.append([step + 1, round(accuracy(image_features(model, config, val_images), w,
                                                       val_labels), 4)])
            model.train()
            _lock(model, cfg.lock_image)
            bar.write(f"step {step + 1}: val zero-shot {val_curve[-1][1]:.3f}")
        if cfg.max_minutes is not None and time.perf_counter() - started > cfg.max_minutes * 60 and not last:
            stopped_early = True
            break
    train_seconds = time.perf_counter() - started

    zero_shot = _commit(model, config, out_dir, folder, cfg.seed, cfg.in_style_per_class)
    common = _record_common(cfg, losses, train_seconds, stopped_early, device, size)
    record = {
        "what": "contrastive pretraining of the toy open_clip CLIP on the vlcat.synth world",
        "command": command,
        "generator_version": GENERATOR_VERSION,
        "pretrain_stream_version": PRETRAIN_STREAM_VERSION,
        "init_from": init_source,
        "lock_image": cfg.lock_image,
        **common,
        "images_seen_total": common["images_seen"] + int((init_source or {}).get("images_seen") or 0),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "final_logit_scale": round(float(model.logit_scale.detach().exp()), 3),
        "val_zero_shot_curve": val_curve,
        "zero_shot": zero_shot,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "model"},
    }
    save_json(record, out_dir / "toy_clip_record.json")
    if tmp_data is not None:
        tmp_data.cleanup()
    return record


def reevaluate(out_dir: Path = ASSETS_DIR, *, data_root: Path | None = None,
               in_style_per_class: int = 10) -> dict[str, Any]:
    """Recompute the record's zero-shot numbers for the committed weights, without training.

    Needed when the task's drawing changes (a new ``GENERATOR_VERSION``) but the pretraining stream does
    not: the record must describe the data users will generate, and retraining would cost minutes.
    """
    out_dir = Path(out_dir)
    record = json.loads((out_dir / "toy_clip_record.json").read_text(encoding="utf-8"))
    model, config = load_toy_clip(out_dir / "toy_clip.json", out_dir / "toy_clip.safetensors")
    with tempfile.TemporaryDirectory(prefix="vlcat-synth-") as tmp:
        folder = build_synth_dataset(Path(data_root or tmp), seed=record["seed"],
                                     image_size=config["preprocess_cfg"]["size"])
        record["zero_shot"] = evaluate(model, config, folder, split="test", seed=record["seed"],
                                       in_style_per_class=in_style_per_class)
    record["zero_shot_generator_version"] = GENERATOR_VERSION
    save_json(record, out_dir / "toy_clip_record.json")
    return record
