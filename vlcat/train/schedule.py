"""Dassl's learning-rate schedule (the one CoOp, CoCoOp, KgCoOp and ProGrad trained with) as a pure
function of the epoch.

Dassl (``dassl/optim/lr_scheduler.py``) builds a per-epoch scheduler (cosine annealing over
``max_epoch`` = E, or a constant one) and, when ``WARMUP_EPOCH`` = W > 0, wraps it in a warm-up scheduler
that owns epochs ``0 .. W-1`` and then hands every later step to the wrapped one. The scheduler steps once
after the last batch of each epoch, so 0-based epoch ``e`` trains with the LR after ``e`` steps:

* warm-up, ``e < W``: ``constant`` holds ``warmup_lr`` (Dassl's ``WARMUP_CONS_LR``); ``linear`` starts at
  ``warmup_lr`` (``WARMUP_MIN_LR``) in epoch 0 and uses ``lr * e / W`` in epochs ``1 .. W-1``.
* ``e >= W`` with ``WARMUP_RECOUNT=True`` (Dassl's default, unchanged by every released config of the four
  methods): the wrapped cosine has not stepped during the warm-up, so it starts counting at W:
  ``lr/2 * (1 + cos(pi * (e - W) / E))``. The last epoch therefore still trains at a sizeable LR (CoCoOp's
  10-epoch run ends at ``lr/2 * (1 + cos(0.8 pi))`` = 0.095 lr), and ``cos(pi * e / E)`` would be one epoch
  ahead of the published runs.
* ``e >= W`` with ``WARMUP_RECOUNT=False``: Dassl sets the cosine's epoch counter to W before wrapping,
  but the optimizer enters epoch W at the full ``lr``; torch's cosine then steps in its chainable form
  (each step multiplies the current LR by ``(1 + cos(pi t / E)) / (1 + cos(pi (t - 1) / E))``), so the
  curve is the cosine rescaled to start at ``lr`` in epoch W: ``lr * (1 + cos(pi e / E)) / (1 + cos(pi W / E))``.
* without warm-up (W = 0): ``lr/2 * (1 + cos(pi * e / E))``; the ``constant`` scheduler keeps ``lr``.

A pure function lets a resumed run (or the catalyst's look-ahead race) pick the exact LR of any epoch
without replaying scheduler state. ``tests/train/test_lr_schedule.py`` checks it against torch's own
``CosineAnnealingLR`` stepped the way Dassl steps it.
"""

from __future__ import annotations

import math

SCHEDULERS = ("cosine", "constant")
STEP_SCHEDULERS = ("cosine_step",)
"""Schedulers stepped after every batch rather than every epoch (:func:`lr_at_step`)."""
WARMUP_TYPES = ("constant", "linear")


def lr_at_epoch(epoch: int, *, lr: float, max_epoch: int, warmup_epoch: int = 1, warmup_lr: float = 1e-5,
                scheduler: str = "cosine", warmup_type: str = "constant", warmup_recount: bool = True) -> float:
    """LR used during 0-based ``epoch`` (see the module docstring for Dassl's rules)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    if warmup_type not in WARMUP_TYPES:
        raise ValueError(f"warmup_type must be one of {WARMUP_TYPES}, got {warmup_type!r}")
    w = max(0, warmup_epoch)
    if epoch < w:
        if warmup_type == "constant" or epoch == 0:
            return warmup_lr
        return lr * epoch / w
    if scheduler == "constant":
        return lr
    if w == 0 or warmup_recount:
        return 0.5 * lr * (1.0 + math.cos(math.pi * (epoch - w) / max_epoch))
    return lr * (1.0 + math.cos(math.pi * epoch / max_epoch)) / (1.0 + math.cos(math.pi * w / max_epoch))


def lr_at_step(step: int, *, lr: float, total_steps: int) -> float:
    """LR of 0-based global ``step`` under ``cosine_step``: torch's ``CosineAnnealingLR(T_max=total_steps)``
    stepped after every batch, as Tip-Adapter-F trains (gaopengcuhk/Tip-Adapter ``main.py``,
    ``run_tip_adapter_F``: ``CosineAnnealingLR(optimizer, train_epoch * len(train_loader_F))``, one
    ``scheduler.step()`` per batch, no warm-up), so step ``t`` trains at ``lr/2 * (1 + cos(pi t / T))``."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * step / max(1, total_steps)))
