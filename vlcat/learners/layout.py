"""Where a prompt's tokens sit, read from the tokenizer itself, in one place for every context learner.

Tokenizers differ in what they put around a text: CLIP's BPE writes ``[SOS] text [EOT] 0 ...``, the
SigLIP (T5, Gemma) and mT5 sentencepiece vocabularies write no start token (``text </s> pad ...``),
BERT (CLIPA) writes ``[CLS] text`` with its ``[SEP]`` stripped to padding, XLM-R style vocabularies
``<s> text </s> <pad> ...``. Some clean the text first (SigLIP lowercases and drops punctuation, so the
"." of "a photo of a {}." never reaches the model). Where the text tower *pools* says nothing about
any of this (SigLIP pools the last position, which is padding), so the layout is measured here by
tokenizing probe texts and checking that vlcat's own assembly of a prompt gives the tokenizer's ids.

A context prompt is then ``start + context + fixed words + class name (+ ".") + end + padding``,
assembled from token ids: the context slots hold a placeholder word (their embeddings are replaced by
the learned vectors), and the class name is tokenized together with its period, because a tokenizer
may merge the name's last characters with it (`circle".` is one CLIP token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlcat.errors import ConfigError, ModelError
from vlcat.learners.reembed import text_token_ids

_PROBE = ("a photo of a", "red dog.")


@dataclass(frozen=True)
class TokenLayout:
    """What a tokenizer writes around a text (see the module docstring)."""

    start: tuple[int, ...]
    """Special ids before the text (CLIP's SOS, BERT's CLS, XLM-R's <s>); empty for T5/Gemma/mT5."""
    end: tuple[int, ...]
    """Special ids right after the text (EOS); empty when the tokenizer pads there (CLIPA, or pad == EOS)."""
    pad_id: int
    context_length: int
    period: tuple[int, ...]
    """Tokens of "." after the tokenizer's cleaning; empty when cleaning drops punctuation (SigLIP)."""
    word_id: int
    """A plain word token, for the context slots whose embeddings the learner replaces."""

    def fits(self, n_text: int) -> bool:
        """Whether ``n_text`` text tokens fit untruncated (with no end token, one padding slot must follow,
        where the tokenizer would otherwise put its truncated end token)."""
        return len(self.start) + n_text + max(1, len(self.end)) <= self.context_length

    def row(self, text_ids: Sequence[int]) -> list[int]:
        """The tokenizer's output for a text whose tokens are ``text_ids`` (which must fit)."""
        row = [*self.start, *text_ids, *self.end]
        return row + [self.pad_id] * (self.context_length - len(row))


def token_layout(tokenizer: Any) -> TokenLayout:
    """Measure a tokenizer's layout and check that assembling prompts from ids reproduces its output.

    A tokenizer for which the check fails is refused with :class:`ModelError` in one line: vlcat would
    otherwise build prompts that differ from the ones the model was trained on.
    """
    name = type(tokenizer).__name__
    head, tail = (text_token_ids(tokenizer, t) for t in _PROBE)
    whole = f"{_PROBE[0]} {_PROBE[1]}"
    body = text_token_ids(tokenizer, whole)
    full = [int(i) for i in tokenizer([whole])[0].tolist()]
    offset = next((o for o in range(4) if full[o:o + len(body)] == body), None)
    if offset is None or body != head + tail or not head:
        raise ModelError(f"the {name} tokenizer does not write a text as the concatenation of its words' tokens; "
                         "vlcat cannot place a context in its prompts")
    pad_id = full[-1]
    after = full[offset + len(body):]
    n_end = next((i for i, t in enumerate(after) if t == pad_id), len(after))
    period = tuple(text_token_ids(tokenizer, "."))
    word = text_token_ids(tokenizer, "X") or head
    layout = TokenLayout(start=tuple(full[:offset]), end=tuple(after[:n_end]), pad_id=pad_id,
                         context_length=len(full), period=period, word_id=int(word[0]))
    if layout.row(body) != full:
        raise ModelError(f"the {name} tokenizer pads or ends texts in a way vlcat does not recognise; "
                         "vlcat cannot place a context in its prompts")
    return layout


@dataclass
class ContextPrompts:
    """Token ids of C context prompts and where their parts sit."""

    token_ids: torch.Tensor
    """``[C, L]`` the tokenizer's ids of each prompt, context slots holding a placeholder word."""
    n_start: int
    """Tokens before the context (0 or 1 for every open_clip tokenizer)."""
    name_lens: list[int]
    """Tokens of each class name (a period merged into the name's last token counts as the name's)."""
    layout: TokenLayout


def class_name_tokens(tokenizer: Any, layout: TokenLayout, name: str) -> tuple[list[int], int]:
    """Tokens of ``"{name}."`` and how many of them are the name's (the rest is the period)."""
    ids = text_token_ids(tokenizer, f"{name}.")
    p = len(layout.period)
    n = len(ids) - p if p and ids[-p:] == list(layout.period) else len(ids)
    return ids, n


def context_prompts(tokenizer: Any, names: Sequence[str], n_ctx: int, *, ctx_ids: Sequence[int] | None = None,
                    fixed_ids: Sequence[int] = ()) -> ContextPrompts:
    """Ids of ``start + context + fixed + "{name}." + end + padding`` for every class name.

    ``ctx_ids`` are the init words' tokens (placeholders when None); a prompt that does not fit the
    tokenizer's context, or a class name with no tokens, is a :class:`ConfigError` in one line.
    """
    layout = token_layout(tokenizer)
    ctx = list(ctx_ids) if ctx_ids is not None else [layout.word_id] * n_ctx
    rows, lens = [], []
    for name in names:
        ids, n_name = class_name_tokens(tokenizer, layout, name)
        if n_name < 1:
            raise ConfigError(f"class name {name!r} has no tokens after the tokenizer's cleaning; rename the class")
        text = [*ctx, *fixed_ids, *ids]
        if not layout.fits(len(text)):
            raise ConfigError(
                f"prompts do not fit the text context of {layout.context_length} tokens with n_ctx={n_ctx} "
                f"(class {name!r}); lower learner.n_ctx"
            )
        rows.append(layout.row(text))
        lens.append(n_name)
    return ContextPrompts(torch.tensor(rows, dtype=torch.long), len(layout.start), lens, layout)
