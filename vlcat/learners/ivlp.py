"""IVLP, independent vision-language prompting (Khattak et al., MaPLe, CVPR 2023, its baseline; PromptSRC's base).

Deep prompts in both towers, learned independently of each other:

* text: CoOp's context at layer 0 (``learner.n_ctx`` vectors from ``learner.ctx_init``, the first ``n_ctx``
  tokens of "a photo of a" by default, the rest fixed words) and one ``[n_ctx, D]`` prompt per text layer
  ``1 .. text_depth - 1`` replacing the context's hidden states there;
* vision: ``n_ctx_vision`` tokens appended after the patch tokens at layer 0, replaced by their own tokens
  before every image layer ``1 .. vision_depth - 1`` and dropped before the class-token pooling.

Logits are CLIP's, ``s * cos(f(x; P_v), g(t_y; P_t))``, and the loss cross-entropy. Source read for the
formulas and defaults (not copied): muzairkhattak/multimodal-prompt-learning ``trainers/independentVL.py``
(``VLPromptLearner``), ``clip/model.py`` (``ResidualAttentionBlock_IVLP``, ``VisionTransformer``) and
``configs/trainers/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml`` (2 + 2 tokens, depth 12 in both towers, SGD lr
0.0035, batch 4, 5 epochs); PromptSRC's repository trains its IVLP baseline with 4 + 4 tokens, depth 9,
lr 0.0025 for 20 epochs (``configs/trainers/IVLP/vit_b16_c2_ep20_batch4_4+4ctx.yaml``).

The image tower runs with the vision prompts every step, so the learner takes pixels. The LLM catalyst
refuses it in one line (see :mod:`vlcat.learners.deep`).
"""

from __future__ import annotations

from typing import Any

import torch

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.layer_prompts import check_depth
from vlcat.learners.base import TaskSpec
from vlcat.learners.coop import context_kwargs
from vlcat.learners.deep import DeepTextLearner, VisionPromptTokens
from vlcat.learners.options import IVLPOptions
from vlcat.learners.registry import register_learner


@register_learner("ivlp", options=IVLPOptions)
class IVLP(DeepTextLearner):
    """Independent deep text and vision prompts; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> IVLP:
        o = cfg.ivlp
        return cls(clip, task.classnames, n_ctx_vision=o.n_ctx_vision, text_depth=o.text_depth,
                   vision_depth=o.vision_depth, **context_kwargs(cfg))

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 2, ctx_init: str = "a photo of a",
                 n_ctx_vision: int = 2, text_depth: int = 12, vision_depth: int = 12, **kwargs: Any) -> None:
        """Defaults are the authors' released setting (configs/learners/ivlp.yaml)."""
        if n_ctx_vision < 1:
            raise ConfigError(f"learner.{self.name}.n_ctx_vision must be >= 1, got {n_ctx_vision}")
        super().__init__(clip, classnames, n_ctx=n_ctx, ctx_init=ctx_init, text_depth=text_depth, **kwargs)
        check_depth(vision_depth, self.vision.layers, f"learner.{self.name}.vision_depth", "image")
        self.vision_depth = vision_depth
        self.vision_prompt = VisionPromptTokens(n_ctx_vision, self.vision.width, vision_depth,
                                                kwargs.get("init_std", 0.02), self.ctx.device)

    def vision_prompts(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vision_prompt()
