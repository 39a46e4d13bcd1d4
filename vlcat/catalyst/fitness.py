"""Fitness of context tensors: loss and accuracy on the few-shot images, all candidates in one pass.

Only the text tower runs (the image features are the cached, un-augmented ones): the learner's
``context_logits`` (the context protocol) scores all candidates at once, e.g. CoOp encodes the shared
SOS+context prefix once per candidate for all classes. Scoring dozens of candidates therefore costs about
as much as a few training steps, which is what makes scoring *every* LLM proposal affordable. Un-augmented features are
used because a candidate's score must not depend on which random crops an epoch happened to draw.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vlcat.learners.context import ContextLearner


@dataclass
class Fitness:
    loss: float
    """Cross-entropy on the un-augmented few-shot training images (lower is better)."""
    acc: float
    """Top-1 accuracy (%) on the same images."""
    val_acc: float | None = None
    """Top-1 accuracy (%) on the few-shot validation images, when the dataset has a val split."""
    val_loss: float | None = None
    """Cross-entropy on the same validation images."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sort_key(self) -> tuple[float, float]:
        """Lower is better. Held-out first: validation accuracy, then validation loss, when the dataset has
        a val split (every choice between texts is a selection, and selecting on the images the context
        was trained on favours the continuous context that fit them); training loss/accuracy otherwise."""
        if self.val_acc is not None and self.val_loss is not None:
            return (-self.val_acc, self.val_loss)
        return (self.loss, -self.acc)

    def beats(self, other: Fitness) -> bool:
        """Strictly better under ``sort_key``."""
        return self.sort_key() < other.sort_key()


class PromptScorer:
    """Scores contexts of the learner's shape against fixed image features."""

    def __init__(self, learner: ContextLearner, train: tuple[torch.Tensor, torch.Tensor],
                 val: tuple[torch.Tensor, torch.Tensor] | None = None,
                 autocast: contextlib.AbstractContextManager | None = None) -> None:
        self.learner = learner
        device = learner.logit_scale.device
        self.train = (train[0].to(device), train[1].to(device))
        self.val = (val[0].to(device), val[1].to(device)) if val is not None and len(val[0]) else None
        self._autocast = autocast

    def _ctx(self) -> contextlib.AbstractContextManager:
        return self._autocast if self._autocast is not None else contextlib.nullcontext()

    @staticmethod
    def _acc(logits: torch.Tensor, labels: torch.Tensor) -> float:
        return float((logits.argmax(-1) == labels).float().mean().item() * 100.0)

    def _fitness(self, contexts: torch.Tensor, batched: bool) -> list[Fitness]:
        feats = [self.train[0]] + ([self.val[0]] if self.val is not None else [])
        with self._ctx():
            logits = self.learner.context_logits(contexts, feats, batched=batched)
        out = []
        for k in range(contexts.shape[0]):
            train_logits = logits[0][k].float()
            loss = float(F.cross_entropy(train_logits, self.train[1]).item())
            val_acc = val_loss = None
            if self.val is not None:
                val_logits = logits[1][k].float()
                val_acc = self._acc(val_logits, self.val[1])
                val_loss = float(F.cross_entropy(val_logits, self.val[1]).item())
            out.append(Fitness(loss, self._acc(train_logits, self.train[1]), val_acc, val_loss))
        return out

    @torch.no_grad()
    def score(self, contexts: torch.Tensor) -> list[Fitness]:
        """Fitness of each of K contexts ``[K, *context shape]``, in one batched pass."""
        if contexts.shape[0] == 0:
            return []
        return self._fitness(contexts, batched=True)

    @torch.no_grad()
    def score_one(self, context: torch.Tensor) -> Fitness:
        """One context through the learner's own (unbatched) path; the reference the batch must match."""
        return self._fitness(context.unsqueeze(0), batched=False)[0]

    def score_current(self) -> Fitness:
        return self.score_one(self.learner.get_context())
