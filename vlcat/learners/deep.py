"""What the deep prompt learners share (IVLP, MaPLe, VPT-deep; PromptSRC builds on it): pixels in, the image
tower run with prompt tokens every step, and deep text prompts on top of CoOp's context.

* :class:`PixelPromptLearner`: a mixin for learners that change the image side. They declare
  ``inputs = "pixels"`` (the trainer feeds preprocessed images every step and at evaluation; nothing is cached)
  and encode images through :class:`vlcat.vision_encoder.VisionEncoder` with the prompts that
  :meth:`PixelPromptLearner.vision_prompts` returns. A model without an open_clip ViT image tower is refused
  in one line when the learner is built.
* :class:`VisionPromptTokens`: independent learnable vision prompts, ``first`` ``[n, W]`` appended at layer 0
  and ``deep`` ``[J - 1, n, W]`` for layers ``1 .. J - 1``, each N(0, 0.02) as the authors initialise
  ``VPT`` / ``VPT_shallow`` (muzairkhattak/multimodal-prompt-learning, ``clip/model.py``).
* :class:`DeepTextLearner`: CoOp's first-layer context plus one ``[n_ctx, D]`` prompt per deeper text layer
  (``deep_ctx``, N(0, 0.02)), passed to every text-encoder path through :meth:`CoOp.text_layer_prompts`, so
  truncation and the shared-prefix fast path keep working (:mod:`vlcat.text_encoder`). Its context init
  follows MaPLe's and IVLP's code by default (``ctx_init_length=n_ctx``: the first ``n_ctx`` tokens of
  "a photo of a" learn, "of a" stays a fixed word before the class name).

**The LLM catalyst** refuses these learners in one line at the config check and again when training starts
(``catalyst_refusal``): its stages restart the first-layer text context from words and score candidates
on cached image features, while these learners also train per-layer text prompts and vision prompts that
no text can restart and that change the image features, so a restart would move one of many coupled
parts (for MaPLe it also drives the layer-0 vision prompts through the projection) and the scoring would
need the image tower per candidate. Restarting only the decodable first-layer context and keeping the rest
is possible in principle but changes what the stage measures; it is left for later.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.layer_prompts import check_depth
from vlcat.learners.coop import CoOp
from vlcat.vision_encoder import VisionEncoder

CATALYST_REFUSAL = ("its stages restart the first-layer text context from words and score it on cached image "
                    "features, and this learner also trains per-layer text and vision prompts that no words restart "
                    "and runs the image tower every step")

#: Images per image-tower call when a whole split is scored at once (validation selection).
PIXEL_CHUNK = 128


class VisionPromptTokens(nn.Module):
    """Learnable vision prompts of IVLP and VPT-deep: ``first`` (layer 0) and ``deep`` (layers 1 .. J - 1)."""

    def __init__(self, n: int, width: int, depth: int, std: float = 0.02, device: torch.device | None = None) -> None:
        super().__init__()
        self.first = nn.Parameter(torch.empty(n, width, device=device).normal_(0.0, std))
        self.deep = nn.Parameter(torch.empty(depth - 1, n, width, device=device).normal_(0.0, std))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.first, self.deep


class PixelPromptLearner:
    """Mixin (before the learner base in the bases): images in, encoded with prompts; see the module docstring."""

    inputs: ClassVar[str] = "pixels"
    catalyst_refusal: ClassVar[str] = CATALYST_REFUSAL
    vision: VisionEncoder

    def init_vision(self, clip: ClipBundle) -> VisionEncoder:
        """Attach the prompted image encoder; refuses a model without a ViT image tower (one line)."""
        self.vision = VisionEncoder(clip.model, self.name)
        return self.vision

    def vision_prompts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(first [n, W], deep [J - 1, n, W])``: the prompts the image tower runs with now."""
        raise NotImplementedError

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised image features ``[B, E]`` of preprocessed ``images``, through the prompted tower."""
        first, deep = self.vision_prompts()
        return self.vision(images, first, deep)

    def logits(self, inputs: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        """``inputs`` are images; class features are computed once per call (they do not depend on the image)."""
        text = class_features if class_features is not None else self.class_features()
        return self.cosine_logits(self.image_features(inputs), text)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, batch_size: int = PIXEL_CHUNK) -> torch.Tensor:
        """Logits of a whole set of images, the image tower in bounded chunks."""
        return super().predict(inputs, batch_size=min(batch_size, PIXEL_CHUNK))


def refuse_other_context_options(cfg: Any, name: str) -> None:
    """The deep text learners keep one context shared by all classes, the class name at the end."""
    if cfg.csc:
        raise ConfigError(f"learner {name} has one context shared by all classes; set learner.csc=false")
    if cfg.class_token_position != "end":
        raise ConfigError(f"learner {name} puts the class name at the end (learner.class_token_position=end)")


class DeepTextLearner(PixelPromptLearner, CoOp):
    """CoOp's context at layer 0 plus a learnable prompt per deeper text layer; see the module docstring."""

    has_context: ClassVar[bool] = False
    """Not a catalyst context learner (``catalyst_refusal``), though its first-layer context decodes."""
    text_depth_key: ClassVar[str] = "text_depth"
    """The option (``learner.<name>.<key>``) that sets the text prompt depth, for messages."""

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        refuse_other_context_options(cfg, cls.name)

    def __init__(self, clip: ClipBundle, classnames: list[str], *, text_depth: int, n_ctx: int = 2,
                 ctx_init: str = "a photo of a", ctx_init_length: str = "n_ctx", init_std: float = 0.02,
                 **kwargs: Any) -> None:
        if kwargs.get("csc") or kwargs.get("class_token_position", "end") != "end":
            raise ConfigError(f"learner {self.name} needs learner.csc=false and learner.class_token_position=end")
        super().__init__(clip, classnames, n_ctx=n_ctx, ctx_init=ctx_init, ctx_init_length=ctx_init_length,
                         init_std=init_std, **kwargs)
        self.init_vision(clip)
        check_depth(text_depth, self.encoder.layers, f"learner.{self.name}.{self.text_depth_key}", "text")
        self.text_depth = text_depth
        shape = (text_depth - 1, self.n_ctx, self.ctx.shape[-1])
        self.deep_ctx = nn.Parameter(torch.empty(shape, device=self.ctx.device).normal_(0.0, init_std))

    def text_layer_prompts(self) -> torch.Tensor:
        return self.deep_ctx

    def context_logits(self, *args: Any, **kwargs: Any) -> list[torch.Tensor]:
        raise NotImplementedError(f"learner '{self.name}' scores images, not cached features ({CATALYST_REFUSAL})")
