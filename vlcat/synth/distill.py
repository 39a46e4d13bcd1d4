"""A toy CLIP with a ViT image tower, distilled from the committed toy CLIP (``vlcat-toy-vit``).

Why distil rather than pretrain: the vision-prompt learners (VPT-deep, IVLP, MaPLe, PromptSRC) need a
ViT image tower, and the committed toy's image tower is a ResNet. Measured on this project's CPU machine,
a ViT trained contrastively from scratch learns colours but barely any shapes in the minutes a CPU
allows, while regressing a teacher's image embedding gives every image a dense 128-d target instead of
one bit of in-batch identity. So the student keeps the teacher's text tower and logit scale byte for
byte (locked, as in LiT), and its new ViT tower learns

    loss = CLIP loss(student image, locked text) + distill_weight * mean(1 - cos(student, teacher image))

on the same pretraining stream. Sharing the text tower exactly keeps the world one world: a prompt
means the same thing to both toys, and the ViT toy's zero-shot numbers stay comparable to the ResNet's.
The record names the teacher by sha256 and says what the ViT costs against it.
"""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from vlcat.synth.dataset import build_synth_dataset
from vlcat.synth.pretrain import (
    _card_templates,
    _normalise,
    _sha256,
    _StreamBatches,
    _summarise_losses,
    _worker_init,
    accuracy,
    class_weights,
    encode_text_truncated,
    evaluate,
    image_features,
    load_split,
    save_json,
    save_weights,
)
from vlcat.synth.toy_model import ASSETS_DIR, build_clip, load_toy_clip
from vlcat.synth.world import GENERATOR_VERSION, PRETRAIN_STREAM_VERSION

VIT_ASSETS_DIR = ASSETS_DIR / "vit"

DEFAULT_VISION: dict[str, Any] = {"image_size": 64, "layers": 6, "width": 128, "patch_size": 8, "head_width": 32}
"""64 px in 8 px patches (64 tokens), width 128, 6 blocks: 1.2 M parameters, ~0.55 s per step of 128 on
two CPU cores. Patches of 16 px leave a 4x4 grid, too coarse for the world's outlines."""


@dataclass
class DistillConfig:
    teacher: Path = ASSETS_DIR
    """Folder with the teacher's three asset files; the student keeps its text tower and normalisation."""
    vision: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_VISION))
    """The student's open_clip ``vision_cfg`` (a ViT: ``layers`` an int, ``patch_size`` set)."""
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    distill_weight: float = 10.0
    threads: int = 2
    workers: int = 1
    device: str = "cpu"
    eval_every: int = 250
    max_minutes: float | None = None
    out_dir: Path = VIT_ASSETS_DIR
    data_root: Path | None = None
    in_style_per_class: int = 10


def student_config(teacher_config: dict[str, Any], vision: dict[str, Any]) -> dict[str, Any]:
    """The teacher's config with its image tower replaced; the image size must stay the teacher's."""
    if int(vision.get("image_size", 0)) != int(teacher_config["vision_cfg"]["image_size"]):
        raise ValueError(f"the student's image_size {vision.get('image_size')} differs from the teacher's "
                         f"{teacher_config['vision_cfg']['image_size']}; the stream is drawn at the teacher's size")
    if not isinstance(vision.get("layers"), int) or "patch_size" not in vision:
        raise ValueError("the student's vision config must describe a ViT (integer 'layers' and a 'patch_size')")
    config = {k: v for k, v in teacher_config.items()}
    config["vision_cfg"] = dict(vision)
    return config


def _student(teacher: torch.nn.Module, config: dict[str, Any], seed: int) -> torch.nn.Module:
    """A fresh student whose every non-visual weight is the teacher's, frozen."""
    torch.manual_seed(seed)
    student = build_clip(config)
    own = student.state_dict()
    shared = {k: v for k, v in teacher.state_dict().items() if not k.startswith("visual.")}
    own.update(shared)
    student.load_state_dict(own, strict=True)
    for name, p in student.named_parameters():
        p.requires_grad_(name.startswith("visual."))
    return student


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            skip = p.ndim < 2 or "embedding" in name or name.endswith("class_embedding")
            (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, cfg: DistillConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def distill(cfg: DistillConfig, *, progress: bool = True, command: str | None = None) -> dict[str, Any]:
    """Train the student, evaluate it and its teacher, write the three asset files; return the record."""
    torch.set_num_threads(cfg.threads)
    teacher_dir = Path(cfg.teacher)
    teacher_weights = teacher_dir / "toy_clip.safetensors"
    teacher, teacher_config = load_toy_clip(teacher_dir / "toy_clip.json", teacher_weights)
    teacher_sha = _sha256(teacher_weights)
    config = student_config(teacher_config, cfg.vision)
    size = int(config["vision_cfg"]["image_size"])
    pp = config["preprocess_cfg"]
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tmp_data = None
    if cfg.data_root is None:
        tmp_data = tempfile.TemporaryDirectory(prefix="vlcat-synth-")
        data_root = Path(tmp_data.name)
    else:
        data_root = Path(cfg.data_root)
    folder = build_synth_dataset(data_root, seed=cfg.seed, image_size=size)
    val_images, val_labels, classnames = load_split(folder, "val")
    hand_template, _ = _card_templates()

    device = torch.device(cfg.device)
    student = _student(teacher, config, cfg.seed).to(device)  # built on the CPU from the CPU teacher
    teacher = teacher.to(device).eval().requires_grad_(False)
    student.train()
    optimizer = torch.optim.AdamW(_param_groups(student, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    mean_t = torch.tensor(pp["mean"], device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(pp["std"], device=device).view(1, 3, 1, 1)
    scale = float(teacher.logit_scale.exp())
    batches = DataLoader(
        _StreamBatches(cfg.seed, 0, cfg.steps, cfg.batch_size, size, int(config["text_cfg"]["context_length"])),
        batch_size=None, num_workers=cfg.workers, worker_init_fn=_worker_init if cfg.workers else None,
        prefetch_factor=4 if cfg.workers else None, pin_memory=device.type == "cuda",
    )
    losses: list[float] = []
    cosines: list[float] = []
    val_curve: list[list[float]] = []
    started = time.perf_counter()
    stopped_early = False
    bar = tqdm(batches, total=cfg.steps, desc="distil ViT toy CLIP", disable=not progress, dynamic_ncols=True)
    for step, (images, tokens) in enumerate(bar):
        x = _normalise(images.to(device), mean_t, std_t)
        with torch.no_grad():
            target = F.normalize(teacher.encode_image(x), dim=-1)
            txt = F.normalize(encode_text_truncated(teacher, tokens.to(device)), dim=-1)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        img = F.normalize(student.encode_image(x), dim=-1)
        logits = scale * img @ txt.T
        labels = torch.arange(len(img), device=device)
        cos = (img * target).sum(-1).mean()
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2 \
            + cfg.distill_weight * (1.0 - cos)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in student.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        cosines.append(float(cos.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", cos=f"{np.mean(cosines[-20:]):.3f}")
        last = step + 1 == cfg.steps
        if cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or last):
            student.eval()
            w = class_weights(student, config, classnames, [hand_template])
            val_curve.append([step + 1, round(accuracy(image_features(student, config, val_images), w,
                                                       val_labels), 4), round(float(np.mean(cosines[-50:])), 4)])
            student.train()
            bar.write(f"step {step + 1}: val zero-shot {val_curve[-1][1]:.3f}, cos to teacher {val_curve[-1][2]:.3f}")
        if cfg.max_minutes is not None and time.perf_counter() - started > cfg.max_minutes * 60 and not last:
            stopped_early = True
            break
    train_seconds = time.perf_counter() - started

    student.eval()
    weights_path = out_dir / "toy_clip.safetensors"
    config_path = out_dir / "toy_clip.json"
    save_weights(student, weights_path)
    save_json(config, config_path)
    committed, _ = load_toy_clip(config_path, weights_path)
    zero_shot = evaluate(committed, config, folder, split="test", seed=cfg.seed,
                         in_style_per_class=cfg.in_style_per_class)
    teacher_zero_shot = evaluate(teacher.cpu(), teacher_config, folder, split="test", seed=cfg.seed,
                                 in_style_per_class=cfg.in_style_per_class)
    import open_clip

    record = {
        "what": "a ViT image tower distilled from the toy CLIP's ResNet tower on the vlcat.synth stream; text "
                "tower and logit scale are the teacher's, unchanged",
        "command": command,
        "generator_version": GENERATOR_VERSION,
        "pretrain_stream_version": PRETRAIN_STREAM_VERSION,
        "teacher": {"weights_sha256": teacher_sha, "vision_cfg": teacher_config["vision_cfg"],
                    "n_visual_parameters": sum(p.numel() for p in teacher.visual.parameters()),
                    "zero_shot": teacher_zero_shot},
        "vision_cfg": config["vision_cfg"],
        "n_visual_parameters": sum(p.numel() for p in student.visual.parameters()),
        "seed": cfg.seed,
        "steps_planned": cfg.steps,
        "steps_done": len(losses),
        "stopped_early": stopped_early,
        "batch_size": cfg.batch_size,
        "images_seen": len(losses) * cfg.batch_size,
        "lr": cfg.lr,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "distill_weight": cfg.distill_weight,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "threads": cfg.threads,
        "workers": cfg.workers,
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / max(1, len(losses)), 3),
        "loss": {"first_25_mean": round(float(np.mean(losses[:25])), 4),
                 "last_25_mean": round(float(np.mean(losses[-25:])), 4),
                 "curve_every_25_steps": _summarise_losses(losses)},
        "cos_to_teacher_last_50": round(float(np.mean(cosines[-50:])), 4),
        "val_zero_shot_curve": val_curve,
        "zero_shot": zero_shot,
        "zero_shot_generator_version": GENERATOR_VERSION,
        "dataset": {"name": "synth_shapes", "seed": cfg.seed, "image_size": size},
        "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__,
                     "python": platform.python_version()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "teacher"},
    }
    save_json(record, out_dir / "toy_clip_record.json")
    if tmp_data is not None:
        tmp_data.cleanup()
    return record
