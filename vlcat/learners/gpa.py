"""Gaussian-weighted prompt aggregation (GPA), PromptSRC's ensemble of the prompts over training epochs.

After epoch ``e`` (1-based, of ``N``) the prompts ``P_e`` are added to a running sum with weight

    w_e = g(e) / sum_{k=1..N} g(k),    g(x) = exp(-(x - mean)^2 / (2 std^2)) / (std sqrt(2 pi))

and after the last epoch the prompts are replaced by ``sum_e w_e P_e``, which evaluation then uses. This is
what the authors' trainer does (muzairkhattak/PromptSRC ``trainers/promptsrc.py``, ``PromptSRC.build_model``:
``gauss`` over ``range(1, MAX_EPOCH + 1)`` divided by its sum; ``forward_backward``: at the last batch of
every epoch, after that step, the weighted state is added, and when the last epoch ends the sum is loaded).

The normalised weights are computed from the exponents (a softmax of ``-(e - mean)^2 / (2 std^2)``): the
same numbers as the authors' ratio of densities, which the constant ``1 / (std sqrt(2 pi))`` cancels from,
but without underflowing to 0/0 when the mean lies far beyond the epochs run (a short test run with the
released mean 15). The sum is kept in float32 whatever the prompts' dtype (the authors sum in the model's
dtype, fp16 under PREC fp16): tiny early weights are not flushed to zero.
"""

from __future__ import annotations

import math

import torch


def gaussian_weights(max_epoch: int, mean: float, std: float) -> list[float]:
    """``w_1 .. w_N`` (summing to 1) for epochs ``1 .. max_epoch``; see the module docstring."""
    if std <= 0:
        raise ValueError(f"the GPA standard deviation must be > 0, got {std}")
    logs = [-0.5 * ((e - mean) / std) ** 2 for e in range(1, max_epoch + 1)]
    top = max(logs, default=0.0)
    raw = [math.exp(v - top) for v in logs]
    total = sum(raw)
    return [r / total for r in raw]


class PromptAggregate:
    """The running weighted sum of named prompt tensors (float32), which checkpoints must carry."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        self.sums = {k: torch.zeros(p.shape, dtype=torch.float32, device=p.device) for k, p in params.items()}

    @torch.no_grad()
    def add(self, params: dict[str, torch.Tensor], weight: float) -> None:
        """``sum += weight * params`` (the authors add the new weighted state to the previous sum)."""
        for k, p in params.items():
            self.sums[k] = self.sums[k].to(p.device) + p.detach().float() * weight

    @torch.no_grad()
    def copy_into(self, params: dict[str, torch.Tensor]) -> None:
        """Set the prompts to the aggregate (cast to their dtype)."""
        for k, p in params.items():
            p.copy_(self.sums[k].to(device=p.device, dtype=p.dtype))

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.sums.items()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            old = self.sums[k]
            self.sums[k] = v.detach().to(device=old.device, dtype=torch.float32).clone()
