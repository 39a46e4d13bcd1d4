"""CoOp's learning-rate schedule as a pure function of the epoch.

Dassl holds the LR constant at ``warmup_lr`` for the warm-up epochs, then hands over to a cosine
annealing over ``max_epoch`` that has already advanced by the warm-up length. Stepping is per epoch. A pure
function makes a resumed run pick the exact LR without replaying scheduler state.
"""

from __future__ import annotations

import math


def lr_at_epoch(epoch: int, *, lr: float, max_epoch: int, warmup_epoch: int = 1, warmup_lr: float = 1e-5,
                scheduler: str = "cosine") -> float:
    """LR used during 0-based ``epoch``."""
    if epoch < warmup_epoch:
        return warmup_lr
    if scheduler == "constant":
        return lr
    return 0.5 * lr * (1.0 + math.cos(math.pi * epoch / max_epoch))
