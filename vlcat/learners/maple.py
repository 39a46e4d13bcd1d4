"""MaPLe, multi-modal prompt learning (Khattak et al., CVPR 2023): text prompts coupled to vision prompts.

The text side is IVLP's (CoOp's context at layer 0, its own ``[n_ctx, D]`` prompt before each text layer
``1 .. J - 1``, J = ``learner.maple.depth`` in both towers). The vision prompts are not free parameters:
each is a linear V <- L function of the text prompt of the same layer,

    P_v^0 = W_0 P_t^0 + b_0           (P_t^0: the first-layer context, n_ctx x D -> n_ctx x W)
    P_v^i = W_i P_t^i + b_i,  1 <= i < J

so the vision prompts carry as many tokens as the text context, and the gradient of the image loss reaches
the text prompts through the projections. As in the authors' ``MultiModalPromptLearner``: the layer-0
projection (``proj``) is a ``Linear(D, W)`` with its own initialisation, and the per-layer projections
(``deep_proj``) are deep copies of *one* freshly initialised ``Linear(D, W)`` - they start equal and train
apart (``_get_clones``); the deeper text prompts are N(0, 0.02) and the first-layer context is the first
``n_ctx`` token embeddings of "a photo of a" ("of a" stays a fixed word before the class name).

Source read for the formulas and defaults (not copied): muzairkhattak/multimodal-prompt-learning
``trainers/maple.py`` (``MultiModalPromptLearner``, ``CustomCLIP``), ``clip/model.py``
(``ResidualAttentionBlock_MaPLe``, ``VisionTransformer_MaPLe``) and
``configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml`` (ViT-B/16, N_CTX 2, CTX_INIT "a photo of a",
PROMPT_DEPTH 9, SGD lr 0.0035, batch 4, 5 epochs, one constant warm-up epoch at 1e-5, cosine, fp16).
The authors hard-code CLIP ViT-B/16's widths (512 text, 768 image); here they are read from the model.

The image tower runs with the projected prompts every step, so the learner takes pixels. The LLM catalyst
refuses it in one line (see :mod:`vlcat.learners.deep`).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.layer_prompts import check_depth
from vlcat.learners.base import TaskSpec
from vlcat.learners.coop import context_kwargs
from vlcat.learners.deep import DeepTextLearner
from vlcat.learners.options import MaPLeOptions
from vlcat.learners.registry import register_learner


@register_learner("maple", options=MaPLeOptions)
class MaPLe(DeepTextLearner):
    """Deep text prompts and vision prompts projected from them; see the module docstring."""

    text_depth_key: ClassVar[str] = "depth"

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> MaPLe:
        return cls(clip, task.classnames, depth=cfg.maple.depth, **context_kwargs(cfg))

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 2, ctx_init: str = "a photo of a",
                 depth: int = 9, **kwargs: Any) -> None:
        """Defaults are the authors' released setting (configs/learners/maple.yaml)."""
        super().__init__(clip, classnames, n_ctx=n_ctx, ctx_init=ctx_init, text_depth=depth, **kwargs)
        check_depth(depth, self.vision.layers, "learner.maple.depth", "image")
        self.depth = depth
        text_w, vision_w = self.ctx.shape[-1], self.vision.width
        device = self.ctx.device
        self.proj = nn.Linear(text_w, vision_w, device=device)
        one = nn.Linear(text_w, vision_w, device=device)  # every deeper layer starts from this one
        self.deep_proj = nn.ModuleList(copy.deepcopy(one) for _ in range(depth - 1))

    def vision_prompts(self) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.proj(self.ctx)
        if not len(self.deep_proj):
            return first, first.new_zeros((0, *first.shape))
        return first, torch.stack([p(t) for p, t in zip(self.deep_proj, self.deep_ctx, strict=True)])
