"""Deep prompts: learnable tokens that replace some positions' hidden states before each deeper layer.

The convention of MaPLe, IVLP and VPT-deep (muzairkhattak/multimodal-prompt-learning, ``clip/model.py``:
``ResidualAttentionBlock_IVLP.forward`` and ``ResidualAttentionBlock_MaPLe.forward``): layer 0 receives the
prompt through its input (the text context among the token embeddings, the vision tokens appended after the
patches); before each layer ``i`` with ``1 <= i < J`` (J, the prompt depth) the hidden states at the prompt's
positions are thrown away and replaced by that layer's own learnable tokens; from layer J on, the states the
previous layer computed at those positions flow on as any other token's.

``prompts[i - 1]`` is layer ``i``'s ``[n, D]`` tokens, shared by every sequence of the batch (every class
prompt, every image), which is what keeps the text tower's shared-prefix fast path exact: the replaced
positions lie inside the prefix every class shares. The loop runs open_clip's own residual blocks, in the
layout the transformer was built for (``batch_first`` or not), with its attention mask.
"""

from __future__ import annotations

import torch
from torch import nn

from vlcat.errors import ConfigError


def replace_positions(x: torch.Tensor, tokens: torch.Tensor, start: int) -> torch.Tensor:
    """``x`` ``[B, L, D]`` with positions ``start .. start + n`` replaced by ``tokens`` ``[n, D]`` (every row).

    Built by concatenation, not in place, so the graph reaches ``tokens`` and nothing upstream of the
    replaced states (the authors' ``torch.cat([prefix, context, suffix])``).
    """
    n = tokens.shape[0]
    if start < 0 or start + n > x.shape[1]:
        raise ValueError(f"prompt positions {start}..{start + n} lie outside a sequence of {x.shape[1]}")
    fill = tokens.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
    return torch.cat([x[:, :start], fill, x[:, start + n:]], dim=1)


def run_blocks(transformer: nn.Module, x: torch.Tensor, prompts: torch.Tensor | None = None, start: int = 0,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """open_clip's ``Transformer.forward`` on ``x`` ``[B, L, D]`` with deep prompts ``[J - 1, n, D]`` replacing
    positions ``start .. start + n`` before layers ``1 .. J - 1`` (see the module docstring).

    Without prompts this is exactly ``transformer(x, attn_mask=attn_mask)``.
    """
    if prompts is None or prompts.shape[0] == 0:
        return transformer(x, attn_mask=attn_mask)
    blocks = list(transformer.resblocks)
    if prompts.shape[0] >= len(blocks):
        raise ValueError(f"{prompts.shape[0]} deeper prompt layers need more than the tower's {len(blocks)} layers")
    batch_first = getattr(transformer, "batch_first", True)
    for i, blk in enumerate(blocks):
        if 1 <= i <= prompts.shape[0]:
            x = replace_positions(x, prompts[i - 1], start)
        x = blk(x if batch_first else x.transpose(0, 1), attn_mask=attn_mask)
        x = x if batch_first else x.transpose(0, 1)
    return x


def check_depth(depth: int, layers: int, key: str, tower: str) -> None:
    """A prompt depth must be 1 .. the tower's layer count (the authors allow up to 12 on ViT-B/16)."""
    if depth > layers:
        raise ConfigError(f"{key}={depth} is beyond the {tower} tower's {layers} layers; give 1..{layers}")
    if depth < 1:
        raise ConfigError(f"{key}={depth} must be at least 1 (the layer-0 prompt); give 1..{layers}")
