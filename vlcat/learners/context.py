"""The context protocol: what a learner with context vectors offers the LLM catalyst (and anyone else).

A *context* is the tensor of learnable word vectors in the prompt, ``[n_ctx, D]`` (one context shared by
all classes) or ``[C, n_ctx, D]`` (one per class). The catalyst needs five things from it and nothing
else, so every learner that has one (CoOp, CoCoOp's shared context, KgCoOp, ProGrad) is served by the
same catalyst:

* read it: :meth:`ContextLearner.get_context` (and :meth:`display_context`, the rows that stand for "the
  prompt");
* set it: :meth:`ContextLearner.set_context`, in place, so the optimizer keeps its parameter;
* set it from text: :meth:`ContextLearner.reembedder` / :meth:`context_from_text` (tokenise, length rule,
  token embeddings into the slots; :mod:`vlcat.learners.reembed`);
* score a batch of candidate contexts on fixed image features: :meth:`ContextLearner.context_logits`,
  which gives the learner's real logits (CoCoOp's meta-net shift included) for each candidate;
* decode to text: :meth:`ContextLearner.decode_context` (nearest vocabulary token per vector,
  :mod:`vlcat.learners.decode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from vlcat.learners.base import PromptLearner
from vlcat.learners.decode import DecodedPrompt, NearestTokenDecoder
from vlcat.learners.reembed import Reembedder, text_token_ids

#: Upper bound on candidates x classes encoded per text-tower call, to bound activation memory for large C.
MAX_PROMPTS_PER_CALL = 8192


class ContextLearner(PromptLearner):
    """A prompt learner with context vectors; subclasses implement the three abstract methods."""

    has_context: ClassVar[bool] = True
    n_ctx: int
    class_token_position: str
    """Where the class name sits relative to the context: end | middle | front."""

    # ----- to implement --------------------------------------------------------------------------
    def get_context(self) -> torch.Tensor:
        """A detached copy of the current context (``[n_ctx, D]`` or ``[C, n_ctx, D]``)."""
        raise NotImplementedError

    def set_context(self, context: torch.Tensor) -> None:
        """Overwrite the context in place (same shape as :meth:`get_context`)."""
        raise NotImplementedError

    def context_logits(self, contexts: torch.Tensor, features: Sequence[torch.Tensor], *,
                       batched: bool = True) -> list[torch.Tensor]:
        """Logits ``[K, N_i, C]`` of K candidate contexts ``[K, *context shape]`` for each feature set
        ``[N_i, E]``, everything else (meta-net, ...) as it is now. ``batched=False`` runs each context
        through the learner's own training path, the reference the batched path must equal."""
        raise NotImplementedError

    # ----- provided ------------------------------------------------------------------------------
    @property
    def token_embedding(self) -> torch.Tensor:
        """The frozen token-embedding table ``[V, D]`` that contexts live next to."""
        return self.encoder.tower.token_embedding.weight

    def display_context(self, context: torch.Tensor | None = None) -> torch.Tensor:
        """The rows that stand for "the prompt": the context itself, or class 0's for per-class contexts."""
        ctx = self.get_context() if context is None else context.detach()
        return ctx[0] if ctx.dim() == 3 else ctx

    def text_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without SOS/EOS, untruncated (for length checks)."""
        return text_token_ids(self.clip.tokenizer, text)

    def reembedder(self, length_rule: str = "pad_keep", pad_word: str = "X") -> Reembedder:
        """Texts -> contexts of this learner's shape (see :mod:`vlcat.learners.reembed` for the length rule)."""
        return Reembedder(self.clip.tokenizer, self.token_embedding, self.n_ctx,
                          class_token_position=self.class_token_position, length_rule=length_rule,
                          pad_word=pad_word)

    def context_from_text(self, text: str, current: torch.Tensor | None = None, *, length_rule: str = "pad_keep",
                          pad_word: str = "X") -> torch.Tensor:
        """The context that restarting at ``text`` gives (free slots from ``current``, default: now)."""
        base = self.get_context() if current is None else current
        return self.reembedder(length_rule, pad_word).context(text, base)

    def decoder(self, metric: str = "cosine") -> NearestTokenDecoder:
        """The nearest-token decoder of this learner's vocabulary (built once per metric)."""
        cache = self.__dict__.setdefault("_decoders", {})
        if metric not in cache:
            cache[metric] = NearestTokenDecoder(self.token_embedding, self.clip.tokenizer, metric)
        return cache[metric]

    def decode_context(self, context: torch.Tensor | None = None, metric: str = "cosine") -> DecodedPrompt:
        """Nearest real word per vector of :meth:`display_context`."""
        return self.decoder(metric).decode(self.display_context(context))
