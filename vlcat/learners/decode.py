"""Nearest-token decoding: turn continuous context vectors into the closest real words.

For every context vector we pick the vocabulary token whose embedding is most similar (highest cosine,
or smallest L2 distance), among real word tokens only: start/end-of-text and padding are excluded since
they are not words an LLM or a person can read. The similarity is kept, because it shows how far the
vectors have drifted from any word. (The authors' NLP code sorted similarities the wrong way round and so
picked the *least* similar token; a unit test guards against that.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class DecodedPrompt:
    text: str
    token_ids: list[int]
    similarities: list[float]
    """Cosine similarity (metric 'cosine') or negative L2 distance (metric 'l2') of each slot."""

    @property
    def mean_similarity(self) -> float:
        return float(sum(self.similarities) / max(1, len(self.similarities)))


def special_token_ids(tokenizer: Any) -> set[int]:
    """Ids that are not words: SOS/EOS (and every other special token) plus the padding id."""
    ids: set[int] = {0}  # open_clip pads with id 0
    inner = getattr(tokenizer, "tokenizer", None)
    if hasattr(tokenizer, "all_special_ids"):
        ids.update(int(i) for i in tokenizer.all_special_ids)
    if inner is not None and hasattr(inner, "all_special_ids"):
        ids.update(int(i) for i in inner.all_special_ids)
        if getattr(inner, "pad_token_id", None) is not None:
            ids.add(int(inner.pad_token_id))
    return ids


def detokenize(tokenizer: Any, ids: list[int]) -> str:
    """Text of a list of token ids without special tokens, for any open_clip tokenizer."""
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(inner, "decode"):
        return inner.decode(ids, skip_special_tokens=True).strip()
    return tokenizer.decode(ids).strip()


class NearestTokenDecoder:
    """Decodes context vectors against a frozen token-embedding table (built once, reused)."""

    def __init__(self, token_embedding: torch.Tensor, tokenizer: Any, metric: str = "cosine") -> None:
        if metric not in ("cosine", "l2"):
            raise ValueError(f"unknown decoding metric '{metric}' (use 'cosine' or 'l2')")
        self.metric = metric
        self.tokenizer = tokenizer
        table = token_embedding.detach().float()
        valid = torch.ones(table.shape[0], dtype=torch.bool)
        for i in special_token_ids(tokenizer):
            if 0 <= i < table.shape[0]:
                valid[i] = False
        self.ids = torch.nonzero(valid).squeeze(1).to(table.device)
        self.table = table[self.ids]
        self.table_normed = F.normalize(self.table, dim=-1)

    def nearest(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``[n]`` and similarity scores ``[n]`` for context vectors ``[n, D]``."""
        v = vectors.detach().float().to(self.table.device)
        if self.metric == "cosine":
            sims = F.normalize(v, dim=-1) @ self.table_normed.t()
            best, idx = sims.max(dim=-1)
        else:
            dist = torch.cdist(v, self.table)
            neg, idx = (-dist).max(dim=-1)
            best = neg
        return self.ids[idx], best

    def decode(self, vectors: torch.Tensor) -> DecodedPrompt:
        ids, sims = self.nearest(vectors)
        id_list = [int(i) for i in ids]
        return DecodedPrompt(detokenize(self.tokenizer, id_list), id_list, [float(s) for s in sims])
