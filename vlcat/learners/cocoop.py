"""CoCoOp (Zhou et al., CVPR 2022): conditional context optimisation.

A small meta-net (Linear -> ReLU -> Linear, bottleneck ``E // 16``) maps each image's L2-normalised
feature to a shift ``pi(x)`` that is added to every context vector, so each image gets its own prompts
``[SOS] (v_1 + pi(x)) ... (v_M + pi(x)) [CLASS] . [EOS]`` and its own class weights:

    p(y | x) = softmax_y( s * cos(x, g(t_y(x))) ),   t_y(x) = [v_1 + pi(x), ..., v_M + pi(x), c_y]

The meta-net and the context train together (the authors: batch 1, 10 epochs, 4 context tokens from
"a photo of a"). The image tower stays frozen, so cached image features still work.

Per-image prompts are what makes CoCoOp slow (B x C prompts per step in the authors' code). Here the
SOS + shifted context of an image is a *prefix* shared by that image's C class suffixes, so
``TextEncoder.forward_shared_prefix`` encodes it once per image (K = B prefixes over C suffixes) and
only the short class suffixes are encoded B x C times, after truncation at the longest EOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import TaskSpec
from vlcat.learners.context import MAX_PROMPTS_PER_CALL
from vlcat.learners.coop import CoOp, context_kwargs
from vlcat.learners.options import CoCoOpOptions
from vlcat.learners.registry import register_learner


@register_learner("cocoop", options=CoCoOpOptions)
class CoCoOp(CoOp):
    """Conditional context optimisation; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> CoCoOp:
        return cls(clip, task.classnames, hidden_ratio=cfg.cocoop.hidden_ratio, **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        if cfg.csc:
            raise ConfigError("learner cocoop has one shared context (the meta-net makes it per image); "
                              "set learner.csc=false")
        if cfg.class_token_position != "end":
            raise ConfigError("learner cocoop puts the class name at the end (learner.class_token_position=end)")
        if cfg.cocoop.hidden_ratio < 1:
            raise ConfigError(f"learner.cocoop.hidden_ratio must be >= 1, got {cfg.cocoop.hidden_ratio}")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 4, ctx_init: str = "a photo of a",
                 hidden_ratio: int = 16, **kwargs: Any) -> None:
        """Defaults are the authors' released setting (configs/learners/cocoop.yaml): 4 vectors from "a photo of a"."""
        if kwargs.get("csc") or kwargs.get("class_token_position", "end") != "end":
            raise ConfigError("learner cocoop needs learner.csc=false and learner.class_token_position=end")
        super().__init__(clip, classnames, n_ctx=n_ctx, ctx_init=ctx_init, **kwargs)
        with torch.no_grad():
            vis_dim = int(self.encoder.forward_full(self.prompt_embeddings()[:1], self.pool_idx[:1],
                                                     self.token_ids[:1]).shape[-1])
        ctx_dim = self.ctx.shape[-1]
        hidden = max(1, vis_dim // hidden_ratio)
        self.meta_net = nn.Sequential(nn.Linear(vis_dim, hidden), nn.ReLU(), nn.Linear(hidden, ctx_dim))
        self.meta_net.to(device=self.ctx.device, dtype=torch.float32)

    # ----- per-image prompts ---------------------------------------------------------------------
    def shifted_contexts(self, image_features: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, n_ctx, D]``: the context plus the meta-net's shift of each (normalised) image feature."""
        ctx = self.ctx if ctx is None else ctx
        shift = self.meta_net(F.normalize(image_features.to(self.ctx.dtype), dim=-1))  # [N, D], half under fp16
        return ctx.unsqueeze(0) + shift.unsqueeze(1)

    def image_class_features(self, image_features: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Class features ``[N, C, E]``, one set per image."""
        shifted = self.shifted_contexts(image_features, ctx)
        if not self.fast_text:  # the authors' way: C full-length prompts per image
            return torch.stack([self.encoder.forward_full(self.prompt_embeddings(s), self.pool_idx, self.token_ids)
                                for s in shifted])
        return self.encoder.forward_shared_prefix(self.shared_prefixes(shifted), self.token_suffix,
                                                  self.suffix_pool_idx, self.token_ids)

    def class_features(self) -> torch.Tensor:
        raise NotImplementedError("CoCoOp's class weights depend on the image; use logits(image_features)")

    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        text = class_features if class_features is not None else self.image_class_features(image_features)
        return self.cosine_logits(image_features, text)

    def _chunk(self) -> int:
        return max(1, MAX_PROMPTS_PER_CALL // max(1, len(self.classnames)))

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Images in chunks that keep images x classes prompts per text-tower call bounded."""
        return super().predict(inputs, batch_size=min(batch_size, self._chunk()))

    def context_logits(self, contexts: torch.Tensor, features: Sequence[torch.Tensor], *,
                       batched: bool = True) -> list[torch.Tensor]:
        """Each candidate shared context with the current meta-net, images in bounded chunks; ``batched``
        makes no difference here (every image already has its own prefix)."""
        step = self._chunk()
        out = []
        for feats in features:
            per_ctx = [torch.cat([self.logits(feats[i:i + step], self.image_class_features(feats[i:i + step], c))
                                  for i in range(0, len(feats), step)]) if len(feats) else
                       feats.new_zeros((0, len(self.classnames))) for c in contexts]
            out.append(torch.stack(per_ctx) if per_ctx else feats.new_zeros((0, len(feats), len(self.classnames))))
        return out
