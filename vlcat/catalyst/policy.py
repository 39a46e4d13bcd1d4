"""Restart policies: which scored text (if any) the context restarts from after an LLM stage.

``best`` is the paper's behaviour: always restart from the best-scoring text among the LLM's valid
proposals and the decoded snapshots. ``if_better`` restarts only when that text beats the loss of the
current continuous context, so an LLM stage can never make the training point worse on the few-shot
set. Without any valid LLM proposal there is no restart at all: the stage failed, and restarting from
a decoded snapshot alone would be a different method (nearest-word projection), not the catalyst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText

POLICIES = ("best", "if_better")


@dataclass
class Decision:
    restart: bool
    chosen: ScoredText | None
    reason: str


def choose(policy: str, candidates: Sequence[ScoredText], snapshots: Sequence[ScoredText],
           current: Fitness) -> Decision:
    """Pick the restart text; ties go to LLM candidates (they come first in the pool)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown restart policy '{policy}' (use one of {', '.join(POLICIES)})")
    if not candidates:
        return Decision(False, None, "no valid LLM candidate")
    pool = list(candidates) + list(snapshots)
    best = min(pool, key=lambda s: s.fitness.sort_key())
    if policy == "best":
        return Decision(True, best, f"best of {len(pool)} scored texts ({best.source})")
    if best.fitness.loss < current.loss:
        return Decision(True, best, f"best text ({best.source}) loss {best.fitness.loss:.4f} "
                                    f"< current context loss {current.loss:.4f}")
    return Decision(False, best, f"best text loss {best.fitness.loss:.4f} does not beat the current context "
                                 f"loss {current.loss:.4f}")
