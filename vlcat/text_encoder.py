"""Encode prompt *embeddings* (not token ids) through a frozen open_clip text tower, exactly and fast.

For CoOp the text tower runs over every class prompt at every step, so it dominates training time.
CLIP's causal attention mask gives two savings that change no output:

* **Truncation.** Tokens after the pooled (EOT) position never influence it, so a batch is cut to the
  longest pooled position + 1 (77 -> ~20 tokens for typical prompts).
* **Shared prefix.** When every class prompt starts with the same SOS + context tokens (unified context,
  class name at the end), those tokens' hidden states are identical for every class. They are computed
  once per layer and the class-specific tokens attend to them as extra keys/values.

Both are valid only when the pooled position's state depends on nothing after it, so towers whose mask
is not causal (SigLIP, CLIPA, most MobileCLIP), that pool a fixed position ('first', or 'last': cutting
the sequence would move the last position), that append a class embedding (CoCa: a CLS token after the
padding, pooled, with a padding mask built from the token ids) or mask padding get the plain full-length
path, which is exactly open_clip's ``TextTransformer.forward`` / ``CLIP.encode_text`` with the embedding
lookup removed. Towers that mask padding need the prompts' token ids (``token_ids=``) for that mask.

Deep prompts (MaPLe, IVLP, PromptSRC; :mod:`vlcat.layer_prompts`): every path takes ``deep`` ``[J - 1, n, D]``,
tokens that replace the hidden states at positions ``deep_start .. deep_start + n`` (the context) before
layers ``1 .. J - 1``. They are the same for every prompt and sit inside the shared prefix, so truncation
(they come before the pooled position) and prefix sharing (the prefix states are still the same for every
class) stay exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vlcat.clip import text_tower
from vlcat.layer_prompts import replace_positions, run_blocks


class TextEncoder(nn.Module):
    """Frozen text transformer that accepts embeddings; see the module docstring for the fast paths."""

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        tower = text_tower(clip_model)
        # Kept out of the module tree on purpose: the learner's state_dict must hold only what it trains.
        self._tower = [tower]
        self.pool_type: str = getattr(tower, "text_pool_type", getattr(tower, "pool_type", "argmax"))
        self.eos_id: int | None = getattr(tower, "text_eos_id", getattr(tower, "eos_id", None))
        self.cls_emb: nn.Parameter | None = getattr(tower, "cls_emb", None)
        """CoCa's class embedding: appended after the text, pooled, ``ln_final`` applied after pooling."""
        self.pad_mask: bool = self.cls_emb is not None or bool(getattr(tower, "use_pad_mask", False))
        """Whether attention masks padding (from the token ids), as open_clip's ``TextTransformer._embeds``."""
        mask = getattr(tower, "attn_mask", None)
        n = tower.positional_embedding.shape[0]
        causal = mask is not None and torch.equal(
            torch.isinf(mask.float()), torch.ones(n, n, dtype=torch.bool, device=mask.device).triu(1)
        )
        blocks = list(tower.transformer.resblocks)
        plain_blocks = all(
            isinstance(getattr(b, "attn", None), nn.MultiheadAttention) and hasattr(b, "ln_1") and hasattr(b, "mlp")
            and not hasattr(b, "ln_1_kv") and not hasattr(b, "ln_attn")
            for b in blocks
        )
        self.causal: bool = causal
        self.can_truncate: bool = causal and self.pool_type in ("argmax", "eos") and not self.pad_mask
        self.can_share_prefix: bool = self.can_truncate and plain_blocks and tower.transformer.batch_first

    @property
    def tower(self) -> nn.Module:
        return self._tower[0]

    @property
    def context_length(self) -> int:
        """Token positions of a prompt (CoCa's positional table has one more row, for its class embedding)."""
        return int(self.tower.positional_embedding.shape[0]) - (self.cls_emb is not None)

    @property
    def width(self) -> int:
        return int(self.tower.positional_embedding.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.tower.transformer.get_cast_dtype()

    def pool_index(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Position whose final hidden state becomes the text feature, as open_clip chooses it (for CoCa the
        appended class embedding, one past the last token)."""
        if self.cls_emb is not None:
            return torch.full((token_ids.shape[0],), token_ids.shape[1], dtype=torch.long, device=token_ids.device)
        if self.pool_type == "argmax":
            return token_ids.argmax(dim=-1)
        if self.pool_type == "eos":
            return (token_ids == self.eos_id).int().argmax(dim=-1)
        if self.pool_type == "first":
            return torch.zeros(token_ids.shape[0], dtype=torch.long, device=token_ids.device)
        if self.pool_type == "last":
            return torch.full((token_ids.shape[0],), token_ids.shape[1] - 1, dtype=torch.long,
                              device=token_ids.device)
        raise ValueError(f"text pool type '{self.pool_type}' gives no single feature per prompt")

    def _project(self, pooled: torch.Tensor) -> torch.Tensor:
        tower = self.tower
        pooled = tower.ln_final(pooled)
        proj = getattr(tower, "text_projection", None)
        if proj is None:
            return pooled
        if isinstance(proj, nn.Linear):
            return proj(pooled)
        return pooled @ proj

    @property
    def layers(self) -> int:
        """Residual blocks of the text transformer (a deep prompt reaches at most this many)."""
        return len(self.tower.transformer.resblocks)

    def forward_full(self, embeds: torch.Tensor, pool_idx: torch.Tensor,
                     token_ids: torch.Tensor | None = None, deep: torch.Tensor | None = None,
                     deep_start: int = 1) -> torch.Tensor:
        """Reference path: all positions, exactly open_clip's ``encode_text`` after the lookup.

        ``token_ids`` ``[B, L]``: the prompts' ids, needed (and only used) by towers that mask padding.
        ``deep``/``deep_start``: deep prompts and where they go (see the module docstring).
        """
        tower = self.tower
        x = embeds.to(self.dtype)
        attn_mask = tower.attn_mask
        if self.cls_emb is not None:
            x = torch.cat([x, self.cls_emb.to(x.dtype).expand(x.shape[0], 1, -1)], dim=1)
        if self.pad_mask:
            if token_ids is None:
                raise ValueError("this text tower masks padding: pass the prompts' token_ids")
            seq = x.shape[1]
            pad = tower._build_additive_mask(token_ids.to(x.device), seq, x.dtype)
            attn_mask = pad if attn_mask is None else attn_mask[:seq, :seq].unsqueeze(0) + pad
        x = x + tower.positional_embedding[:x.shape[1]].to(self.dtype)
        x = run_blocks(tower.transformer, x, deep, deep_start, attn_mask)
        if self.cls_emb is not None:
            return self._project(x[:, -1])
        x = x[torch.arange(x.shape[0], device=x.device), pool_idx]
        return self._project(x)

    def forward(self, embeds: torch.Tensor, pool_idx: torch.Tensor,
                token_ids: torch.Tensor | None = None, deep: torch.Tensor | None = None,
                deep_start: int = 1) -> torch.Tensor:
        """Encode ``[B, L, D]`` prompt embeddings; ``pool_idx[b]`` is the pooled position of prompt b."""
        if not self.can_truncate:
            return self.forward_full(embeds, pool_idx, token_ids, deep, deep_start)
        tower = self.tower
        length = int(pool_idx.max()) + 1
        x = embeds[:, :length].to(self.dtype) + tower.positional_embedding[:length].to(self.dtype)
        x = run_blocks(tower.transformer, x, deep, deep_start, tower.attn_mask[:length, :length])
        x = x[torch.arange(x.shape[0], device=x.device), pool_idx]
        return self._project(x)

    def forward_shared_prefix(
        self, prefix: torch.Tensor, suffix: torch.Tensor, suffix_pool_idx: torch.Tensor,
        token_ids: torch.Tensor | None = None, deep: torch.Tensor | None = None, deep_start: int = 1,
    ) -> torch.Tensor:
        """Encode K prompt sets that share per-set prefixes over C class-specific suffixes.

        ``prefix``: ``[K, P, D]`` (SOS + context); ``suffix``: ``[C, S, D]`` (class tokens, '.', EOT, ...);
        ``suffix_pool_idx[c]``: pooled position of class c within the suffix. Returns ``[K, C, E]``, equal
        to encoding the K*C concatenated prompts, because under the causal mask prefix states never see
        the suffix. ``token_ids`` ``[C, L]``: the C prompts' ids, for towers that mask padding. ``deep``: deep
        prompts replacing prefix positions ``deep_start ..`` before layers ``1 .. J - 1`` (inside the prefix).
        """
        if not self.can_share_prefix:
            k, p, _ = prefix.shape
            c = suffix.shape[0]
            full = torch.cat(
                [prefix[:, None].expand(k, c, p, -1), suffix[None].expand(k, c, -1, -1)], dim=2
            ).flatten(0, 1)
            ids = None if token_ids is None else token_ids.repeat(k, 1)
            out = self.forward(full, (suffix_pool_idx + p).repeat(k), ids, deep, deep_start)
            return out.view(k, c, -1)

        tower = self.tower
        dtype = self.dtype
        k, p, d = prefix.shape
        c = suffix.shape[0]
        n_deep = 0 if deep is None else deep.shape[0]
        if n_deep and deep_start + deep.shape[1] > p:
            raise ValueError(f"deep prompts at {deep_start}..{deep_start + deep.shape[1]} reach past the prefix ({p})")
        s = int(suffix_pool_idx.max()) + 1
        pos = tower.positional_embedding.to(dtype)
        hp = prefix.to(dtype) + pos[:p]  # [K, P, D]
        hs = (suffix[:, :s].to(dtype) + pos[p:p + s]).unsqueeze(0).expand(k, c, s, d).reshape(k * c, s, d)
        # suffix token i may attend to every prefix token and to suffix tokens j <= i
        allowed = torch.ones(s, p + s, dtype=torch.bool, device=hp.device)
        allowed[:, p:] = torch.ones(s, s, dtype=torch.bool, device=hp.device).tril()
        blocks = list(tower.transformer.resblocks)
        if n_deep >= len(blocks):
            raise ValueError(f"{n_deep} deeper prompt layers need more than the tower's {len(blocks)} layers")
        for i, blk in enumerate(blocks):
            if 1 <= i <= n_deep:  # this layer's prompt replaces the context's states (inside the prefix)
                hp = replace_positions(hp, deep[i - 1], deep_start)
            attn: nn.MultiheadAttention = blk.attn
            heads = attn.num_heads
            hd = d // heads
            qp, kp, vp = F.linear(blk.ln_1(hp), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            qs, ks, vs = F.linear(blk.ln_1(hs), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

            def split(t: torch.Tensor, heads: int = heads, hd: int = hd) -> torch.Tensor:
                return t.unflatten(-1, (heads, hd)).transpose(-3, -2)  # [B, H, L, hd]

            kp_h, vp_h = split(kp), split(vp)  # [K, H, P, hd]
            kp_c = kp_h[:, None].expand(k, c, heads, p, hd).reshape(k * c, heads, p, hd)
            vp_c = vp_h[:, None].expand(k, c, heads, p, hd).reshape(k * c, heads, p, hd)
            keys = torch.cat([kp_c, split(ks)], dim=2)
            vals = torch.cat([vp_c, split(vs)], dim=2)
            out_s = F.scaled_dot_product_attention(split(qs), keys, vals, attn_mask=allowed,
                                                   scale=1.0 / math.sqrt(hd))
            out_s = attn.out_proj(out_s.transpose(-3, -2).flatten(-2))
            hs = hs + blk.ls_1(out_s)
            hs = hs + blk.ls_2(blk.mlp(blk.ln_2(hs)))
            if i + 1 < len(blocks):  # the last layer's prefix states feed nothing
                out_p = F.scaled_dot_product_attention(split(qp), kp_h, vp_h, is_causal=True,
                                                       scale=1.0 / math.sqrt(hd))
                out_p = attn.out_proj(out_p.transpose(-3, -2).flatten(-2))
                hp = hp + blk.ls_1(out_p)
                hp = hp + blk.ls_2(blk.mlp(blk.ln_2(hp)))
        pooled = hs[torch.arange(k * c, device=hs.device), suffix_pool_idx.repeat(k)]
        return self._project(pooled).view(k, c, -1)
