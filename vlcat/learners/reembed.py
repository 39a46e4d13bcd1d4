"""Re-embedding a text prompt into a learner's context slots, and the length rule.

Part of the context protocol (:mod:`vlcat.learners.context`): the catalyst restarts training from a
text through it, and so may anything else that wants to set a context from words.

A text (an LLM candidate, a decoded snapshot, the card's template words) is tokenized with the CLIP
tokenizer *without* SOS/EOS, and its token embeddings are copied into the ``n_ctx`` context slots. The
same function builds the contexts that candidates are scored with, so a candidate's fitness is exactly
the fitness of the point training would restart from.

The length rule (``catalyst.length_rule``), for a text of ``T`` tokens and ``n_ctx`` slots:

* **Longer** (``T > n_ctx``): keep the ``n_ctx`` tokens *nearest the class name* — the last ones when
  the class name follows the context (``class_token_position=end``, CoOp's default), the first ones when
  it precedes it (``front``; ``middle`` is treated like ``front``). The words next to the class name
  are what CLIP reads as its modifier ("... a photo of a [dog]"), while the leading words of a long
  LLM sentence are usually preamble ("Here is an image showing ..."). Cutting from the far end also
  keeps the kept words contiguous with the class name, as they were in the text that was scored.
* **Shorter** (``T < n_ctx``): the text is aligned against the class name (right-aligned for ``end``,
  left-aligned otherwise) and the remaining slots are filled by

  - ``pad_keep`` (default): the *current* context vectors of those slots. A short LLM text then
    replaces only the part of the prompt next to the class name and the rest of what gradient descent
    learned survives the restart; with ``T == n_ctx`` the whole context is replaced. The candidate is
    scored with exactly these slots, so the choice between candidates stays fair.
  - ``pad_word``: the embedding of a neutral word (``catalyst.pad_word``, default CoOp's own placeholder
    ``X``) in every free slot, for a restart that keeps nothing of the continuous context.

Unified contexts (``[n_ctx, D]``) get the text once; class-specific contexts (``[C, n_ctx, D]``) get it
in every class's row (with ``pad_keep``, each class keeps its own vectors in the free slots).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from vlcat.learners.decode import special_token_ids

LENGTH_RULES = ("pad_keep", "pad_word")


def text_token_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without SOS/EOS/padding and without truncation (length checks need all)."""
    try:
        from open_clip.tokenizer import SimpleTokenizer
    except ImportError:  # pragma: no cover - open_clip is a dependency
        SimpleTokenizer = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(tokenizer, SimpleTokenizer):
        return [int(i) for i in tokenizer.encode(text)]
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(inner, "encode"):
        # open_clip's HFTokenizer cleans the text before its inner tokenizer sees it (SigLIP: lowercase, no
        # punctuation); the same cleaning here keeps these ids equal to the ones inside a tokenized prompt.
        clean = getattr(tokenizer, "clean_fn", None)
        return [int(i) for i in inner.encode(clean(text) if clean else text, add_special_tokens=False)]
    specials = special_token_ids(tokenizer)
    return [int(i) for i in tokenizer([text])[0].tolist() if int(i) not in specials]


@dataclass
class Placement:
    """Which tokens of a text land in which context slots."""

    token_ids: list[int]
    slots: list[int]
    total_tokens: int
    """Tokens of the whole text; ``total_tokens - len(token_ids)`` were cut by the length rule."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def place_tokens(token_ids: list[int], n_ctx: int, class_token_position: str = "end") -> Placement:
    """Apply the length rule of the module docstring to a token list."""
    if not token_ids:
        raise ValueError("an empty text has no tokens to place")
    if class_token_position == "end":
        kept = token_ids[-n_ctx:]
        slots = list(range(n_ctx - len(kept), n_ctx))
    else:
        kept = token_ids[:n_ctx]
        slots = list(range(len(kept)))
    return Placement(list(kept), slots, len(token_ids))


class Reembedder:
    """Turns texts into context tensors of the learner's shape (see the module docstring)."""

    def __init__(self, tokenizer: Any, token_embedding: torch.Tensor, n_ctx: int, *,
                 class_token_position: str = "end", length_rule: str = "pad_keep", pad_word: str = "X") -> None:
        if length_rule not in LENGTH_RULES:
            raise ValueError(f"unknown length rule '{length_rule}' (use one of {', '.join(LENGTH_RULES)})")
        self.tokenizer = tokenizer
        self.table = token_embedding.detach()
        self.n_ctx = n_ctx
        self.position = class_token_position
        self.rule = length_rule
        pad_ids = text_token_ids(tokenizer, pad_word) if length_rule == "pad_word" else []
        if length_rule == "pad_word" and not pad_ids:
            raise ValueError(f"catalyst.pad_word={pad_word!r} has no tokens")
        self.pad_id = pad_ids[0] if pad_ids else None

    def token_ids(self, text: str) -> list[int]:
        return text_token_ids(self.tokenizer, text)

    def placement(self, text: str) -> Placement:
        return place_tokens(self.token_ids(text), self.n_ctx, self.position)

    def context(self, text: str | Placement, current: torch.Tensor) -> torch.Tensor:
        """The context tensor (same shape/dtype/device as ``current``) that restarting at ``text`` gives."""
        plc = self.placement(text) if isinstance(text, str) else text
        current = current.detach()
        vectors = self.table[torch.tensor(plc.token_ids, device=self.table.device)]
        vectors = vectors.to(device=current.device, dtype=current.dtype)
        if self.rule == "pad_keep":
            out = current.clone()
        else:
            pad = self.table[self.pad_id].to(device=current.device, dtype=current.dtype)
            out = pad.expand_as(current).clone()
        out[..., plc.slots, :] = vectors
        return out
