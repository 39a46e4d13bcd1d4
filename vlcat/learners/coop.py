"""CoOp (Zhou et al., IJCV 2022): learnable context vectors replace the words of a prompt.

A prompt is ``[SOS] [V]_1 ... [V]_M [CLASS] . [EOS]``; only the M context vectors train, CLIP stays
frozen. Options follow the paper: ``n_ctx``, context initialised from words ("a photo of a") or from
N(0, 0.02), one context shared by all classes (unified) or one per class (CSC), and the class token at
the end, in the middle or at the front.
"""

from __future__ import annotations

import torch
from torch import nn

from vlcat.catalyst.decode import NearestTokenDecoder
from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import PromptLearner, tokenize

POSITIONS = ("end", "middle", "front")


class CoOp(PromptLearner):
    """Context optimisation; see the module docstring."""

    def __init__(
        self,
        clip: ClipBundle,
        classnames: list[str],
        *,
        n_ctx: int = 16,
        ctx_init: str = "",
        csc: bool = False,
        class_token_position: str = "end",
        init_std: float = 0.02,
        fast_text: bool = True,
    ) -> None:
        super().__init__(clip, classnames)
        if class_token_position not in POSITIONS:
            raise ConfigError(f"learner.class_token_position must be one of {POSITIONS}, got '{class_token_position}'")
        self.class_token_position = class_token_position
        self.csc = csc
        self.fast_text = fast_text
        embed = self.encoder.tower.token_embedding
        n_cls = len(self.classnames)
        width = embed.weight.shape[1]
        with torch.no_grad():
            if ctx_init.strip():
                ctx_init = ctx_init.strip().replace("_", " ")
                ids = tokenize(clip, [ctx_init])
                n_init = int(self.encoder.pool_index(ids)[0]) - 1
                if n_init != n_ctx:  # the saved config must say how many context vectors were trained
                    raise ConfigError(f"learner.ctx_init={ctx_init!r} is {n_init} token(s) but learner.n_ctx={n_ctx}; "
                                      f"set learner.n_ctx={n_init} (or leave ctx_init empty for random init)")
                vectors = embed(ids)[0, 1:1 + n_ctx].float()
                if csc:
                    vectors = vectors.unsqueeze(0).repeat(n_cls, 1, 1)
                prefix_text = ctx_init
            else:
                if n_ctx < 1:
                    raise ConfigError(f"learner.n_ctx must be >= 1, got {n_ctx}")
                shape = (n_cls, n_ctx, width) if csc else (n_ctx, width)
                vectors = torch.empty(shape, device=embed.weight.device).normal_(0.0, init_std)
                prefix_text = " ".join(["X"] * n_ctx)
        self.n_ctx = n_ctx
        self.ctx = nn.Parameter(vectors.to(torch.float32))

        names = [name.replace("_", " ") for name in self.classnames]
        ids = tokenize(clip, [f"{prefix_text} {name}." for name in names])
        pool_idx = self.encoder.pool_index(ids)
        # The name's length is measured inside the prompt: the tokenizer may merge its last characters
        # with the period (`circle".` is one token), so a standalone count would not match the prompt.
        dot = int(tokenize(clip, ["."])[0, 1])
        last = ids.gather(1, (pool_idx - 1).unsqueeze(1)).squeeze(1)
        name_lens = pool_idx - 1 - n_ctx - (last == dot).long()
        truncated = (pool_idx >= ids.shape[1] - 1) & (last != dot)
        if int(name_lens.min()) < 1 or bool(truncated.any()):
            raise ConfigError(
                f"prompts do not fit the text context of {clip.context_length} tokens with n_ctx={n_ctx}; "
                "lower learner.n_ctx"
            )
        with torch.no_grad():
            emb = embed(ids).float()
        self.register_buffer("token_ids", ids, persistent=False)
        self.register_buffer("pool_idx", pool_idx, persistent=False)
        self.register_buffer("name_lens", name_lens, persistent=False)
        self.register_buffer("token_prefix", emb[:, :1], persistent=False)  # SOS
        self.register_buffer("token_suffix", emb[:, 1 + n_ctx:], persistent=False)  # CLASS . EOS pad
        self._decoder: NearestTokenDecoder | None = None

    # ----- prompt construction -------------------------------------------------------------------
    def context_per_class(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        ctx = self.ctx if ctx is None else ctx
        if ctx.dim() == 2:
            return ctx.unsqueeze(0).expand(len(self.classnames), -1, -1)
        return ctx

    def prompt_embeddings(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Full-length ``[C, L, D]`` prompt embeddings for the given (or current) context."""
        ctx = self.context_per_class(ctx)
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.class_token_position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        rows = []
        half = self.n_ctx // 2
        for i, n in enumerate(self.name_lens.tolist()):
            cls_tok, rest = suffix[i:i + 1, :n], suffix[i:i + 1, n:]
            c = ctx[i:i + 1]
            if self.class_token_position == "middle":
                rows.append(torch.cat([prefix[i:i + 1], c[:, :half], cls_tok, c[:, half:], rest], dim=1))
            else:
                rows.append(torch.cat([prefix[i:i + 1], cls_tok, c, rest], dim=1))
        return torch.cat(rows, dim=0)

    def pooled_positions(self) -> torch.Tensor:
        return self.pool_idx  # the token count is unchanged by where the class sits

    def uses_shared_prefix(self) -> bool:
        return (self.fast_text and self.class_token_position == "end" and not self.csc
                and self.encoder.can_share_prefix)

    def class_features_for(self, ctx: torch.Tensor) -> torch.Tensor:
        """Class features ``[C, E]`` for an arbitrary context of the learner's shape."""
        if self.uses_shared_prefix():
            return self.batched_class_features(ctx.unsqueeze(0))[0]
        embeds = self.prompt_embeddings(ctx)
        if self.fast_text:
            return self.encoder(embeds, self.pool_idx)
        return self.encoder.forward_full(embeds, self.pool_idx)

    def batched_class_features(self, contexts: torch.Tensor) -> torch.Tensor:
        """Class features ``[K, C, E]`` for K unified contexts ``[K, n_ctx, D]`` at once (candidate scoring)."""
        if self.csc or self.class_token_position != "end":
            return torch.stack([self.class_features_for(c) for c in contexts])
        k = contexts.shape[0]
        prefix = torch.cat([self.token_prefix[:1].expand(k, -1, -1), contexts.to(self.token_prefix.dtype)], dim=1)
        suffix_idx = self.pool_idx - 1 - self.n_ctx
        return self.encoder.forward_shared_prefix(prefix, self.token_suffix, suffix_idx)

    def class_features(self) -> torch.Tensor:
        return self.class_features_for(self.ctx)

    # ----- reading the prompt back ---------------------------------------------------------------
    def decoder(self, metric: str = "cosine") -> NearestTokenDecoder:
        if self._decoder is None or self._decoder.metric != metric:
            self._decoder = NearestTokenDecoder(self.encoder.tower.token_embedding.weight, self.clip.tokenizer,
                                                metric)
        return self._decoder

    def prompt_text(self) -> str:
        """Nearest-word reading of the context, with the class slot shown as {}."""
        ctx = self.ctx[0] if self.csc else self.ctx
        words = self.decoder().decode(ctx).text
        if self.class_token_position == "end":
            return f"{words} {{}}."
        if self.class_token_position == "front":
            return f"{{}} {words}."
        half = self.n_ctx // 2
        left = self.decoder().decode(ctx[:half]).text if half else ""
        right = self.decoder().decode(ctx[half:]).text
        return f"{left} {{}} {right}.".strip()
