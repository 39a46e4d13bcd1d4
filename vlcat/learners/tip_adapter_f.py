"""Tip-Adapter-F (Zhang et al., ECCV 2022): Tip-Adapter whose cache keys are fine-tuned by gradient steps.

As the authors' ``run_tip_adapter_F`` (gaopengcuhk/Tip-Adapter ``main.py``) does it: the cache is built as
for Tip-Adapter (:mod:`vlcat.learners.tip_adapter`: 10 augmented views per image averaged, L2-normalised),
the keys ``K`` become a learnable ``[N, E]`` matrix (their ``nn.Linear`` without bias, its weight set to
the keys; the values ``V`` and the zero-shot weights stay fixed), and it is trained by cross-entropy on

    logits = scale * f W^T + alpha * exp(-beta * (1 - f K^T)) V

with ``alpha = init_alpha`` (per dataset) and ``beta = init_beta = 1``, on freshly augmented views of the
training images every epoch (their ``train_loader_F``: the cache's augmentation, shuffled, batch 256), with
``AdamW(lr=0.001, eps=1e-4)`` (torch's default weight decay 0.01) and a ``CosineAnnealingLR`` over all
steps of ``train_epoch`` = 20 epochs (100 for EuroSAT), stepped after every batch: ``optim.name=adamw``,
``optim.eps``, ``optim.scheduler=cosine_step`` in ``configs/learners/tip_adapter_f.yaml``. The keys are not
renormalised while they train. After training, alpha and beta are searched on the few-shot validation
split over the same grid as Tip-Adapter's (:meth:`TipAdapter.search_on`, run by the trainer through
:meth:`finish_training`, which then rewrites the final checkpoint).

Where vlcat differs: the authors keep the epoch whose keys score best *on the test set* and evaluate that;
vlcat evaluates the last epoch's keys, as it does for every learner (``train.select_best_val=true`` keeps
the epoch best on validation instead; the test split is never read). Epochs 0..9 train on the same crops
the cache averaged (the views are the feature cache's), where the authors draw new ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vlcat.learners.options import TipAdapterFOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.tip_adapter import TipAdapter


@register_learner("tip_adapter_f", options=TipAdapterFOptions)
class TipAdapterF(TipAdapter):
    """Tip-Adapter with learnable cache keys; see the module docstring."""

    trained_by = "gradient"

    def _init_cache(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys = nn.Parameter(keys)  # sized by start_training or a loaded state; the optimizer holds this object
        self.register_buffer("values", values)

    def fit(self, features: torch.Tensor, labels: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None
            ) -> dict[str, Any]:
        raise NotImplementedError("Tip-Adapter-F is trained by gradient steps, not by fit()")

    def finish_training(self, val: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, Any]:
        """alpha and beta searched on validation with the fine-tuned keys (the authors' last step)."""
        return self.search_on(val)
