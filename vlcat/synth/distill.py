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

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vlcat.synth.pretrain import (
    _card_templates,
    _commit,
    _lr_at,
    _normalise,
    _param_groups,
    _record_common,
    _sha256,
    _stream_loader,
    _task_folder,
    accuracy,
    class_weights,
    encode_text_truncated,
    evaluate,
    image_features,
    load_split,
    save_json,
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

    folder, tmp_data = _task_folder(cfg.data_root, cfg.seed, size)
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
    batches = _stream_loader(cfg, size, int(config["text_cfg"]["context_length"]), device)
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

    zero_shot = _commit(student, config, out_dir, folder, cfg.seed, cfg.in_style_per_class)
    teacher_zero_shot = evaluate(teacher.cpu(), teacher_config, folder, split="test", seed=cfg.seed,
                                 in_style_per_class=cfg.in_style_per_class)
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
        **_record_common(cfg, losses, train_seconds, stopped_early, device, size),
        "distill_weight": cfg.distill_weight,
        "cos_to_teacher_last_50": round(float(np.mean(cosines[-50:])), 4),
        "val_zero_shot_curve": val_curve,
        "zero_shot": zero_shot,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "teacher"},
    }
    save_json(record, out_dir / "toy_clip_record.json")
    if tmp_data is not None:
        tmp_data.cleanup()
    return record
