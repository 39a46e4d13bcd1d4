"""Fitness of context tensors: loss and accuracy on the few-shot images, all candidates in one pass.

Only the text tower runs (the image features are the cached, un-augmented ones), and unified contexts
go through ``learner.batched_class_features``, which encodes the shared SOS+context prefix once per
candidate for all classes. Scoring dozens of candidates therefore costs about as much as a few
training steps, which is what makes scoring *every* LLM proposal affordable. Un-augmented features are
used because a candidate's score must not depend on which random crops an epoch happened to draw.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

#: Upper bound on candidates x classes encoded per call, to bound activation memory for large C.
MAX_PROMPTS_PER_CALL = 8192


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

    def __init__(self, learner: Any, train: tuple[torch.Tensor, torch.Tensor],
                 val: tuple[torch.Tensor, torch.Tensor] | None = None,
                 autocast: contextlib.AbstractContextManager | None = None) -> None:
        self.learner = learner
        device = learner.ctx.device
        self.train = (train[0].to(device), train[1].to(device))
        self.val = (val[0].to(device), val[1].to(device)) if val is not None and len(val[0]) else None
        self._autocast = autocast

    def _ctx(self) -> contextlib.AbstractContextManager:
        return self._autocast if self._autocast is not None else contextlib.nullcontext()

    def _metrics(self, class_feats: torch.Tensor) -> Fitness:
        feats, labels = self.train
        logits = self.learner.logits(feats, class_feats).float()
        loss = float(F.cross_entropy(logits, labels).item())
        acc = float((logits.argmax(-1) == labels).float().mean().item() * 100.0)
        val_acc = val_loss = None
        if self.val is not None:
            vlogits = self.learner.logits(self.val[0], class_feats).float()
            val_acc = float((vlogits.argmax(-1) == self.val[1]).float().mean().item() * 100.0)
            val_loss = float(F.cross_entropy(vlogits, self.val[1]).item())
        return Fitness(loss, acc, val_acc, val_loss)

    @torch.no_grad()
    def class_features(self, contexts: torch.Tensor) -> torch.Tensor:
        """``[K, C, E]`` class features for K contexts of the learner's context shape."""
        learner = self.learner
        if contexts.shape[0] == 0:
            return contexts.new_zeros((0, len(learner.classnames), 1))
        with self._ctx():
            if contexts.dim() == 3 and not getattr(learner, "csc", False):
                step = max(1, MAX_PROMPTS_PER_CALL // max(1, len(learner.classnames)))
                parts = [learner.batched_class_features(contexts[i:i + step]).float()
                         for i in range(0, contexts.shape[0], step)]
                return torch.cat(parts)
            return torch.stack([learner.class_features_for(c).float() for c in contexts])

    @torch.no_grad()
    def score(self, contexts: torch.Tensor) -> list[Fitness]:
        """Fitness of each of K contexts ``[K, *ctx.shape]``."""
        feats = self.class_features(contexts)
        return [self._metrics(f) for f in feats]

    @torch.no_grad()
    def score_one(self, context: torch.Tensor) -> Fitness:
        """One context through the learner's own (unbatched) path; the reference the batch must match."""
        with self._ctx():
            return self._metrics(self.learner.class_features_for(context).float())

    def score_current(self) -> Fitness:
        return self.score_one(self.learner.ctx.detach())
