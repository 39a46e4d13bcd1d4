"""When LLM stages run, and at which gradient steps the trajectory is sampled.

A stage after the last epoch would restart the context with no gradient steps left to refine it, so
stages derived from ``rounds``/``span`` never land on the last epoch. An explicit ``epochs`` list is the
user's deliberate choice and is honoured as given (config validation already keeps it in range).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even, which would make the spacing depend on parity.
    return int(math.floor(x + 0.5))


def stage_epochs(max_epoch: int, *, epochs: Sequence[int] = (), rounds: int = 0, span: float = 1.0) -> list[int]:
    """1-based epochs after which an LLM stage runs, sorted and unique.

    With no explicit ``epochs``, ``rounds`` stages are spread evenly over the first ``span`` fraction of
    training: stage i (1..rounds) ends epoch ``round(i * span * max_epoch / rounds)``, clipped to
    ``1..max_epoch-1``; stages that collapse onto the same epoch are merged.
    """
    if epochs:
        return sorted({int(e) for e in epochs if 1 <= int(e) <= max_epoch})
    if rounds <= 0 or max_epoch < 2:
        return []
    out = set()
    for i in range(1, rounds + 1):
        e = _round_half_up(i * span * max_epoch / rounds)
        out.add(min(max(e, 1), max_epoch - 1))
    return sorted(out)


def stage_bounds(schedule: Sequence[int], stage_index: int) -> tuple[int, int]:
    """Epoch range ``(first_exclusive, last_inclusive)`` of the gradient epochs that stage ``stage_index``
    (0-based) follows: the epochs since the previous LLM stage (or since the start)."""
    start = schedule[stage_index - 1] if stage_index > 0 else 0
    return start, schedule[stage_index]


def snapshot_steps(first_step: int, last_step: int, count: int) -> list[int]:
    """``count`` evenly spaced global steps in ``(first_step, last_step]``, always ending at ``last_step``.

    Fewer come back when the stage has fewer steps than ``count`` (each step is sampled at most once).
    """
    length = last_step - first_step
    if length <= 0 or count <= 0:
        return []
    return sorted({first_step + math.ceil(i * length / count) for i in range(1, count + 1)})
