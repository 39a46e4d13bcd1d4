"""VPT-deep on CLIP (Jia et al., ECCV 2022, as the MaPLe and PromptSRC papers run it): vision prompts only.

``n_ctx_vision`` learnable tokens are appended after the patch tokens at layer 0 and replaced by their own
tokens before every image layer ``1 .. depth - 1`` (``depth=1`` is VPT-shallow); they are dropped before the
class-token pooling. The text side is a fixed hand-written prompt, encoded once: "a photo of a {}." as
the authors hard-code it (``learner.vpt_deep.template=card`` uses the dataset card's template instead).

Named ``vpt_deep`` after the issue's and the papers' tables ("VPT-deep"), which print the released depth 12;
the authors' trainer is called ``VPT``. Source read for the formulas and defaults (not copied):
muzairkhattak/multimodal-prompt-learning ``trainers/vpt.py`` (``FixedEmbeddings``, ``CustomCLIP``),
``clip/model.py`` (``VisionTransformer``, ``ResidualAttentionBlock_IVLP`` for the image layers) and
``configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml`` (8 tokens, depth 12, SGD lr 0.0025, batch 4, 5 epochs).
Their ``load_clip_to_cpu`` returns ``model.float()``, so VPT trains in fp32 whatever ``PREC`` says (the
prompts are rounded to half where they enter the tower).

No text context: the LLM catalyst has nothing to restart and refuses it in one line.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.layer_prompts import check_depth
from vlcat.learners.base import PromptLearner, TaskSpec
from vlcat.learners.deep import PixelPromptLearner, VisionPromptTokens
from vlcat.learners.options import VPTDeepOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features


@register_learner("vpt_deep", options=VPTDeepOptions)
class VPTDeep(PixelPromptLearner, PromptLearner):
    """Deep vision prompts with a fixed text prompt; see the module docstring."""

    catalyst_refusal: ClassVar[str] = ("it has no text context to restart (its text is a fixed hand-written "
                                       "prompt) and trains vision prompts only")

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> VPTDeep:
        o = cfg.vpt_deep
        template = task.template if o.template == "card" else o.template
        return cls(clip, task.classnames, n_ctx_vision=o.n_ctx_vision, depth=o.depth, template=template,
                   init_std=cfg.init_std)

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        template = cfg.vpt_deep.template
        if template != "card" and template.count("{}") != 1:
            raise ConfigError(f"learner.vpt_deep.template={template!r} must hold one '{{}}' for the class name "
                              "(or be 'card')")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx_vision: int = 8, depth: int = 12,
                 template: str = "a photo of a {}.", init_std: float = 0.02) -> None:
        """Defaults are the authors' released setting (configs/learners/vpt_deep.yaml)."""
        super().__init__(clip, classnames)
        if n_ctx_vision < 1:
            raise ConfigError(f"learner.vpt_deep.n_ctx_vision must be >= 1, got {n_ctx_vision}")
        self.init_vision(clip)
        check_depth(depth, self.vision.layers, "learner.vpt_deep.depth", "image")
        self.depth = depth
        self.template = template
        device = self.logit_scale.device
        self.vision_prompt = VisionPromptTokens(n_ctx_vision, self.vision.width, depth, init_std, device)
        self.register_buffer("text_features", template_features(self, template), persistent=False)

    def vision_prompts(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vision_prompt()

    def class_features(self) -> torch.Tensor:
        return self.text_features

    def prompt_text(self) -> str:
        return self.template
