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
released mean 15). The sum is kept in the prompts' dtype, in the authors' order of additions.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def gaussian_weights(max_epoch: int, mean: float, std: float) -> list[float]:
    """``w_1 .. w_N`` (summing to 1) for epochs ``1 .. max_epoch``; see the module docstring."""
    if std <= 0:
        raise ValueError(f"the GPA standard deviation must be > 0, got {std}")
    logs = [-0.5 * ((e - mean) / std) ** 2 for e in range(1, max_epoch + 1)]
    top = max(logs, default=0.0)
    raw = [math.exp(v - top) for v in logs]
    total = sum(raw)
    return [r / total for r in raw]


class PromptAggregate(nn.Module):
    """The running weighted sum of named prompt tensors, as buffers: they follow the learner's device and dtype
    (half under ``model.precision=fp16``, where the authors sum in fp16 too). Not in ``state_dict``: the
    learner puts them into its checkpointed trainable state itself."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.names = list(params)  # parameter names hold dots, which buffer names cannot: buffers are sum<i>
        for i, p in enumerate(params.values()):
            self.register_buffer(f"sum{i}", torch.zeros_like(p.detach()), persistent=False)

    def _sum(self, i: int) -> torch.Tensor:
        return getattr(self, f"sum{i}")

    @torch.no_grad()
    def add(self, params: dict[str, torch.Tensor], weight: float) -> None:
        """``sum += weight * params`` (the authors add the new weighted state to the previous sum)."""
        for i, k in enumerate(self.names):
            setattr(self, f"sum{i}", self._sum(i) + params[k].detach() * weight)

    @torch.no_grad()
    def copy_into(self, params: dict[str, torch.Tensor]) -> None:
        """Set the prompts to the aggregate."""
        for i, k in enumerate(self.names):
            params[k].copy_(self._sum(i))

    def state(self) -> dict[str, torch.Tensor]:
        return {k: self._sum(i).detach().clone() for i, k in enumerate(self.names)}

    @torch.no_grad()
    def load(self, state: dict[str, torch.Tensor]) -> None:
        for i, k in enumerate(self.names):
            self._sum(i).copy_(state[k])
