"""CoOp (Zhou et al., IJCV 2022): learnable context vectors replace the words of a prompt.

A prompt is ``[SOS] [V]_1 ... [V]_M [CLASS] . [EOS]``; only the M context vectors train, CLIP stays
frozen. Options follow the paper: ``n_ctx``, context initialised from words ("a photo of a") or from
N(0, 0.02), one context shared by all classes (unified) or one per class (CSC), and the class token at
the end, in the middle or at the front. Where the start token, class name, period and end token sit is
the tokenizer's business (SigLIP has no start token and drops the period): :mod:`vlcat.learners.layout`
measures it once for every context learner.

Two places where the authors' code and vlcat differ, each selectable so that published configs reproduce:

* **CSC with a word init.** CoOp's code ignores ``CSC`` when ``ctx_init`` is given and trains one shared
  context. vlcat by default copies the init into one context per class (``learner.csc_with_init=per_class``),
  because a user who asks for class-specific contexts and a word init means both; ``shared`` is CoOp's.
* **Counting ``n_ctx`` of a word init.** vlcat makes every *token* of ``ctx_init`` a learnable vector
  (``learner.ctx_init_length=tokens``: "itap of a" -> 4 vectors: it, ap, of, a). CoOp counts *words*
  (``n_ctx = len(ctx_init.split(" "))`` = 3) and learns the first 3 token vectors; the remaining init
  tokens ("a") stay in the prompt as fixed words after the context. ``ctx_init_length=words`` does exactly
  that (class name at the end only, as in every published config that depends on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import TaskSpec
from vlcat.learners.context import MAX_PROMPTS_PER_CALL, ContextLearner
from vlcat.learners.decode import detokenize
from vlcat.learners.layout import context_prompts
from vlcat.learners.options import CLASS_TOKEN_POSITIONS, CSC_WITH_INIT, CTX_INIT_LENGTHS
from vlcat.learners.registry import register_learner


def context_kwargs(cfg: Any) -> dict[str, Any]:
    """The shared context options of the ``learner`` config node, as keyword arguments of :class:`CoOp`."""
    return {"n_ctx": cfg.n_ctx, "ctx_init": cfg.ctx_init, "csc": cfg.csc,
            "class_token_position": cfg.class_token_position, "init_std": cfg.init_std,
            "fast_text": cfg.fast_text, "csc_with_init": cfg.csc_with_init, "ctx_init_length": cfg.ctx_init_length}


@register_learner("coop")
class CoOp(ContextLearner):
    """Context optimisation; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> CoOp:
        return cls(clip, task.classnames, **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        if cfg.ctx_init_length == "words" and cfg.ctx_init.strip() and cfg.class_token_position != "end":
            raise ConfigError("learner.ctx_init_length=words (CoOp's word count) needs "
                              "learner.class_token_position=end")

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
        csc_with_init: str = "per_class",
        ctx_init_length: str = "tokens",
    ) -> None:
        super().__init__(clip, classnames)
        self.fixed_text = ""  # init tokens past a word-counted n_ctx (CoOp's count), kept as fixed words
        if class_token_position not in CLASS_TOKEN_POSITIONS:  # the config checks the same choices
            raise ConfigError(f"learner.class_token_position must be one of {CLASS_TOKEN_POSITIONS}, "
                              f"got '{class_token_position}'")
        if csc_with_init not in CSC_WITH_INIT:
            raise ConfigError(f"learner.csc_with_init must be {' or '.join(CSC_WITH_INIT)}, got '{csc_with_init}'")
        if ctx_init_length not in CTX_INIT_LENGTHS:
            raise ConfigError(f"learner.ctx_init_length must be {' or '.join(CTX_INIT_LENGTHS)}, "
                              f"got '{ctx_init_length}'")
        if csc and ctx_init.strip() and csc_with_init == "shared":
            csc = False  # CoOp's code: a word init trains one shared context whatever CSC says
        self.class_token_position = class_token_position
        self.csc = csc
        self.fast_text = fast_text
        embed = self.encoder.tower.token_embedding
        n_cls = len(self.classnames)
        width = embed.weight.shape[1]
        device = embed.weight.device
        init_ids: list[int] | None = None
        fixed_ids: list[int] = []
        with torch.no_grad():
            if ctx_init.strip():
                ctx_init = ctx_init.strip().replace("_", " ")
                init_ids = self.text_token_ids(ctx_init)
                if not init_ids:
                    raise ConfigError(f"learner.ctx_init={ctx_init!r} has no tokens after the tokenizer's cleaning")
                n_tokens = n_init = len(init_ids)
                if ctx_init_length == "words":
                    n_words = len(ctx_init.split())
                    if class_token_position != "end" and n_words != n_tokens:
                        raise ConfigError("learner.ctx_init_length=words needs learner.class_token_position=end")
                    n_init = min(n_tokens, n_words)
                    fixed_ids = init_ids[n_init:]
                    self.fixed_text = detokenize(clip.tokenizer, fixed_ids) if fixed_ids else ""
                    init_ids = init_ids[:n_init]
                elif ctx_init_length == "n_ctx":  # MaPLe's and IVLP's code: n_ctx decides, the init's rest is fixed
                    if not 1 <= n_ctx <= n_tokens:
                        raise ConfigError(f"learner.ctx_init={ctx_init!r} has {n_tokens} token(s); with "
                                          f"learner.ctx_init_length=n_ctx, learner.n_ctx must be 1..{n_tokens}, "
                                          f"got {n_ctx} (or leave ctx_init empty for random init)")
                    if class_token_position != "end" and n_ctx != n_tokens:
                        raise ConfigError("learner.ctx_init_length=n_ctx needs learner.class_token_position=end")
                    n_init = n_ctx
                    fixed_ids = init_ids[n_init:]
                    self.fixed_text = detokenize(clip.tokenizer, fixed_ids) if fixed_ids else ""
                    init_ids = init_ids[:n_init]
                n_ctx = n_init  # the init decides, as in CoOp; a run refuses a config that says otherwise
                vectors = embed(torch.tensor(init_ids, device=device)).float()
                if csc:
                    vectors = vectors.unsqueeze(0).repeat(n_cls, 1, 1)
            else:
                if n_ctx < 1:
                    raise ConfigError(f"learner.n_ctx must be >= 1, got {n_ctx}")
                shape = (n_cls, n_ctx, width) if csc else (n_ctx, width)
                vectors = torch.empty(shape, device=device).normal_(0.0, init_std)
        self.n_ctx = n_ctx
        self.ctx = nn.Parameter(vectors.to(torch.float32))

        names = [name.replace("_", " ") for name in self.classnames]
        prompts = context_prompts(clip.tokenizer, names, n_ctx, ctx_ids=init_ids, fixed_ids=fixed_ids)
        ids = prompts.token_ids.to(device)
        self.n_start = prompts.n_start  # tokens before the context: 1 (CLIP's SOS, BERT's CLS) or 0 (SigLIP, mT5)
        pool_idx = self.encoder.pool_index(ids)  # where the tower pools, for pooling only
        with torch.no_grad():
            emb = embed(ids).float()
        self.register_buffer("token_ids", ids, persistent=False)
        self.register_buffer("pool_idx", pool_idx, persistent=False)
        self.register_buffer("name_lens", torch.tensor(prompts.name_lens, device=device), persistent=False)
        self.register_buffer("token_prefix", emb[:, :self.n_start], persistent=False)  # start token, if any
        self.register_buffer("token_suffix", emb[:, self.n_start + n_ctx:], persistent=False)  # CLASS . EOS pad

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

    @property
    def suffix_pool_idx(self) -> torch.Tensor:
        """Pooled position of each class within ``token_suffix`` (what follows the start token and context)."""
        return self.pool_idx - self.n_start - self.n_ctx

    def shared_prefixes(self, contexts: torch.Tensor) -> torch.Tensor:
        """``[K, n_start + n_ctx, D]``: the start token (if any) followed by each of K unified contexts."""
        k = contexts.shape[0]
        return torch.cat([self.token_prefix[:1].expand(k, -1, -1), contexts.to(self.token_prefix.dtype)], dim=1)

    def uses_shared_prefix(self) -> bool:
        return (self.fast_text and self.class_token_position == "end" and not self.csc
                and self.encoder.can_share_prefix)

    def text_layer_prompts(self) -> torch.Tensor | None:
        """Deep text prompts ``[J - 1, n_ctx, D]`` that replace the context's hidden states before text layers
        ``1 .. J - 1`` (:mod:`vlcat.layer_prompts`); None for CoOp, whose context enters at layer 0 only.
        Deep prompt learners (:mod:`vlcat.learners.deep`) return theirs, and every encoding path here uses it."""
        return None

    def class_features_for(self, ctx: torch.Tensor) -> torch.Tensor:
        """Class features ``[C, E]`` for an arbitrary context of the learner's shape."""
        if self.uses_shared_prefix():
            return self.batched_class_features(ctx.unsqueeze(0))[0]
        embeds = self.prompt_embeddings(ctx)
        deep = self.text_layer_prompts()
        if self.fast_text:
            return self.encoder(embeds, self.pool_idx, self.token_ids, deep, self.n_start)
        return self.encoder.forward_full(embeds, self.pool_idx, self.token_ids, deep, self.n_start)

    def batched_class_features(self, contexts: torch.Tensor) -> torch.Tensor:
        """Class features ``[K, C, E]`` for K unified contexts ``[K, n_ctx, D]`` at once (candidate scoring)."""
        if self.csc or self.class_token_position != "end":
            return torch.stack([self.class_features_for(c) for c in contexts])
        return self.encoder.forward_shared_prefix(self.shared_prefixes(contexts), self.token_suffix,
                                                  self.suffix_pool_idx, self.token_ids,
                                                  self.text_layer_prompts(), self.n_start)

    def class_features(self) -> torch.Tensor:
        return self.class_features_for(self.ctx)

    def new_classes_error(self) -> str | None:
        if self.csc:
            return "a class-specific context (csc=true) cannot be applied to other classes"
        return None

    # ----- the context protocol ------------------------------------------------------------------
    def get_context(self) -> torch.Tensor:
        return self.ctx.detach().clone()

    def set_context(self, context: torch.Tensor) -> None:
        with torch.no_grad():
            self.ctx.copy_(context)

    def context_logits(self, contexts: torch.Tensor, features: Sequence[torch.Tensor], *,
                       batched: bool = True) -> list[torch.Tensor]:
        outs: list[list[torch.Tensor]] = [[] for _ in features]
        if batched and contexts.dim() == 3 and not self.csc:
            step = max(1, MAX_PROMPTS_PER_CALL // max(1, len(self.classnames)))
            class_feats = [f for i in range(0, contexts.shape[0], step)
                           for f in self.batched_class_features(contexts[i:i + step])]
        else:
            class_feats = [self.class_features_for(c) for c in contexts]
        for cf in class_feats:
            for out, feats in zip(outs, features, strict=True):
                out.append(self.logits(feats, cf.float()))
        return [torch.stack(o) if o else contexts.new_zeros((0, len(f), len(self.classnames)))
                for o, f in zip(outs, features, strict=True)]

    # ----- reading the prompt back ---------------------------------------------------------------
    def prompt_text(self) -> str:
        """Nearest-word reading of the context, with the class slot shown as {}."""
        ctx = self.ctx[0] if self.csc else self.ctx
        words = self.decoder().decode(ctx).text
        if self.fixed_text:
            words = f"{words} {self.fixed_text}"
        if self.class_token_position == "end":
            return f"{words} {{}}."
        if self.class_token_position == "front":
            return f"{{}} {words}."
        half = self.n_ctx // 2
        left = self.decoder().decode(ctx[:half]).text if half else ""
        right = self.decoder().decode(ctx[half:]).text
        return f"{left} {{}} {right}.".strip()
