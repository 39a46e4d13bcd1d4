"""Run a frozen open_clip ViT image tower with prompt tokens appended to its sequence (VPT-deep, IVLP, MaPLe).

As the authors' ``VisionTransformer.forward`` (muzairkhattak/multimodal-prompt-learning, ``clip/model.py``,
also ``VisionTransformer_MaPLe``): patch embedding, class token, positional embedding; then the layer-0
prompt tokens are appended *after* the patch tokens (they get no positional embedding) and go through
``ln_pre`` with the rest; before each deeper layer ``i < J`` the last ``n`` states are replaced by that layer's
tokens (:mod:`vlcat.layer_prompts`); after the last layer the prompt positions are dropped and the tower
pools as it always does. The authors pool ``ln_post(x[:, 0]) @ proj`` (CLIP's class token); open_clip's
``_pool`` does the same for a class-token tower and averages the patch tokens for ``pool_type='avg'``,
which is why the prompts are dropped before pooling rather than after.

Only open_clip's ``VisionTransformer`` has a token sequence to append to; any other tower (the ResNet of
the committed toy CLIP, timm towers) is refused in one line; a depth beyond a tower's layers is refused by
:func:`vlcat.layer_prompts.check_depth`.
"""

from __future__ import annotations

import torch
from open_clip.transformer import VisionTransformer
from torch import nn

from vlcat.errors import ModelError
from vlcat.layer_prompts import run_blocks


def vit_tower(model: nn.Module, learner: str) -> VisionTransformer:
    """The model's image tower, if it is an open_clip ViT; otherwise a one-line ``ModelError``."""
    visual = getattr(model, "visual", None)
    if not isinstance(visual, VisionTransformer):
        raise ModelError(f"learner '{learner}' puts prompt tokens into a ViT image tower, and this model's image "
                         f"tower is a {type(visual).__name__}; use a ViT model (e.g. ViT-B-16, or vlcat-toy-vit "
                         "offline)")
    return visual


class VisionEncoder(nn.Module):
    """A frozen ViT image tower that takes prompt tokens; see the module docstring."""

    def __init__(self, clip_model: nn.Module, learner: str) -> None:
        super().__init__()
        # Out of the module tree, as TextEncoder's tower: the learner's state_dict holds only what it trains.
        self._tower = [vit_tower(clip_model, learner)]

    @property
    def tower(self) -> VisionTransformer:
        return self._tower[0]

    @property
    def layers(self) -> int:
        return len(self.tower.transformer.resblocks)

    @property
    def width(self) -> int:
        return int(self.tower.class_embedding.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.tower.conv1.weight.dtype

    def forward(self, images: torch.Tensor, first: torch.Tensor, deep: torch.Tensor | None = None) -> torch.Tensor:
        """Image features ``[B, E]`` of ``images`` ``[B, 3, H, W]`` with ``first`` ``[n, W]`` appended at layer 0
        and ``deep`` ``[J - 1, n, W]`` replacing them before layers ``1 .. J - 1``."""
        v = self.tower
        x = v.conv1(images.to(self.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [B, grid**2, W]
        cls = v.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        x = v.patch_dropout(x)
        n = first.shape[0]
        x = torch.cat([x, first.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)], dim=1)
        x = v.ln_pre(x)
        x = run_blocks(v.transformer, x, deep, x.shape[1] - n)
        pooled, _ = v._pool(x[:, :x.shape[1] - n])
        return pooled @ v.proj if v.proj is not None else pooled
