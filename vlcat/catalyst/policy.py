"""Restart policies: which scored text (if any) the context restarts from after an LLM stage.

``best`` is the paper's behaviour: always restart from the best-scoring text among the LLM's valid
proposals and the decoded snapshots. ``if_better`` restarts only when that text beats the current
continuous context. "Best" and "beats" are ``Fitness.sort_key``: few-shot validation accuracy, then
validation loss, when a val split exists (training loss otherwise). Without any valid proposal there is
no restart at all: the stage failed, and restarting from a decoded snapshot alone would be a different
method (nearest-word projection), not the catalyst. (``lookahead`` decides by a race instead, in
``race.py``; the proposals still pass through here only for the paper's two rules.)
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
    if best.fitness.beats(current):
        return Decision(True, best, f"best text ({best.source}) {_show(best.fitness)} beats the current "
                                    f"context {_show(current)}")
    return Decision(False, best, f"best text {_show(best.fitness)} does not beat the current context "
                                 f"{_show(current)}")


def _show(f: Fitness) -> str:
    if f.val_acc is not None and f.val_loss is not None:
        return f"(val acc {f.val_acc:.2f}, val loss {f.val_loss:.4f})"
    return f"(train loss {f.loss:.4f})"
