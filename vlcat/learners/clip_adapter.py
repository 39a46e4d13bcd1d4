"""CLIP-Adapter (Gao et al., IJCV 2024; arXiv 2110.04544): a residual bottleneck MLP on the image features.

As the authors' trainer (gaopengcuhk/CLIP-Adapter ``clip_adapter.py``: ``Adapter``, ``CustomCLIP.forward``)
does it, with the frozen image tower's unnormalised feature ``f`` of width ``E``:

    A(f)  = ReLU(W2 ReLU(W1 f))          W1: E -> E // reduction, W2: E // reduction -> E, no biases
    f'    = ratio * A(f) + (1 - ratio) * f                     ratio 0.2, reduction 4
    logit = scale * <f'/|f'|, t_c/|t_c|>

with ``t_c`` CLIP's text feature of the dataset's hand-written prompt (their ``CUSTOM_TEMPLATES``, which are
CoOp's per-dataset templates: the card's ``template``). Only ``W1`` and ``W2`` train, by cross-entropy; the
adapter acts after the frozen image tower, so the learner trains on cached features of each augmentation
view (``inputs = "features"``). The authors hard-code the width 1024 (RN50); here it is the model's.

The text side is frozen and the adapter is class-agnostic, so the trained adapter scores any class list
(novel classes, other datasets). There is no context, so the LLM catalyst does not apply.

The authors' repository releases no config of its own: its README runs the trainer with CoOp's command,
i.e. CoOp's Dassl config (SGD lr 0.002, momentum 0.9, weight decay 5e-4, batch 32, 200 epochs, cosine,
one constant warm-up epoch at 1e-5); ``configs/learners/clip_adapter.yaml`` states it. They train in float32
(``clip_model.float()`` before the adapter is built), so the adapter stays float32 under ``model.precision=fp16``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import PromptLearner, TaskSpec
from vlcat.learners.options import ClipAdapterOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features


def residual_mix(features: torch.Tensor, adapted: torch.Tensor, ratio: float) -> torch.Tensor:
    """CLIP-Adapter's residual blend ``ratio * adapted + (1 - ratio) * features``."""
    return ratio * adapted + (1.0 - ratio) * features


@register_learner("clip_adapter", options=ClipAdapterOptions)
class ClipAdapter(PromptLearner):
    """Residual bottleneck adapter on the image features; see the module docstring."""

    follows_clip_dtype = False  # the authors train the adapter in float32 (clip_model.float())
    export_refusal = "changes the image features (its adapter runs after the image tower)"

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> ClipAdapter:
        o = cfg.clip_adapter
        return cls(clip, task.classnames, reduction=o.reduction, ratio=o.ratio, template=task.template)

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        o = cfg.clip_adapter
        if o.reduction < 1 or not 0.0 <= o.ratio <= 1.0:
            raise ConfigError("learner.clip_adapter needs reduction >= 1 and ratio in [0, 1], got "
                              f"reduction={o.reduction}, ratio={o.ratio}")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, reduction: int = 4, ratio: float = 0.2,
                 template: str = "a photo of a {}.") -> None:
        """Defaults are the authors' code (configs/learners/clip_adapter.yaml)."""
        super().__init__(clip, classnames)
        self.reduction, self.ratio, self.template = int(reduction), float(ratio), template
        text = template_features(self, template)
        self.register_buffer("text", text, persistent=False)
        width = text.shape[-1]  # image features live in the joint embedding space
        if width // self.reduction < 1:
            raise ConfigError(f"learner.clip_adapter.reduction={reduction} leaves no hidden unit of the "
                              f"{width}-wide image features")
        self.adapter = nn.Sequential(
            nn.Linear(width, width // self.reduction, bias=False), nn.ReLU(inplace=True),
            nn.Linear(width // self.reduction, width, bias=False), nn.ReLU(inplace=True),
        )

    def class_features(self) -> torch.Tensor:
        return self.text

    def adapt(self, image_features: torch.Tensor) -> torch.Tensor:
        """The blended image features ``f'`` (unnormalised)."""
        f = image_features.to(self.adapter[0].weight.dtype)
        return residual_mix(f, self.adapter(f), self.ratio)

    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        text = class_features if class_features is not None else self.text
        return self.cosine_logits(self.adapt(image_features), text)

    def prompt_text(self) -> str:
        return f"{self.template} + adapter (reduction {self.reduction}, ratio {self.ratio:g})"
