"""The look-ahead race: restarts judged by where they lead, on held-out images, not by where they start.

A text re-embedded into the context slots starts at a worse training loss than the continuous context
gradient descent has been refining, almost always; what matters is where a few gradient steps take it. So
an LLM stage with ``policy=lookahead`` races its starters (the current context, always, plus the best few
texts) over a short gradient look-ahead and keeps the one with the best few-shot *validation* accuracy
(validation loss breaks ties; on an exact tie the earlier starter, the current context first, wins).

The look-ahead steps are the first ``steps`` steps of the *next* epoch: the same index batches, the same
augmented features, the same learning rate and optimizer settings the training loop would use there. The
winner's steps are kept (``Trainer.steps_done_ahead``) and training continues after them, so

* no work is thrown away and a catalyst run makes exactly as many training steps as plain CoOp;
* when the current context wins, the run continues bit for bit as plain CoOp would have: a stage can
  only change training where the validation split says a text leads somewhere better;
* the LR schedule simply continues (the race sits inside it), and a resume from the checkpoint written
  after the stage is exact, as after an interruption at that step.

With many starters the race is a successive halving: all starters train to the first rung, the better
half (validation accuracy, then loss) goes on to twice the steps, and so on; the last one left finishes
the look-ahead. A text starter begins with fresh momentum when ``reset_momentum`` (a new point has no
useful velocity), the current context keeps its own optimizer state.

The race only touches the learner through ``trainable_state``/``load_trainable_state``, ``class_features``
and ``logits``, and the trainer through ``train_step``, its batches and features; it never sees the test
split (validation features are passed in).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vlcat.train.select import validation_score


@dataclass
class Start:
    """One starter of the race: a full trainable state and the optimizer state to begin with."""

    text: str
    """The text it came from ("" for the current context)."""
    source: str
    """current | llm | random | trajectory | template | history."""
    state: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    """An optimizer ``state_dict`` to start from; None = fresh momentum."""
    pre: dict[str, Any] = field(default_factory=dict)
    """Its score before the race (for the log)."""


@dataclass
class Lane:
    start: Start
    index: int
    state: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    val_acc: float = math.nan
    val_loss: float = math.nan
    rungs: list[dict[str, Any]] = field(default_factory=list)
    out_at: int | None = None

    def key(self) -> tuple[float, float, int]:
        return (-self.val_acc, self.val_loss, self.index)


@dataclass
class RaceResult:
    winner: Lane
    record: dict[str, Any]


def rung_targets(n: int, steps: int) -> list[int]:
    """Steps at which the field is halved: ``ceil(log2 n)`` rungs at steps/2^k, ..., steps/2 (at least 1)."""
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    return [max(1, steps >> (rounds - k)) if steps else 0 for k in range(rounds)]


class LookaheadRace:
    """Runs one race on a trainer (see the module docstring)."""

    def __init__(self, trainer: Any, val: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.trainer = trainer
        self.learner = trainer.learner
        self.val = val
        self.lr: float | None = None

    def _load(self, lane: Lane) -> None:
        self.learner.load_trainable_state(lane.state)
        self.trainer.optimizer.load_state_dict(lane.optimizer)
        if self.lr is not None:  # a state_dict carries the LR it was saved with: the look-ahead epoch's wins
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = self.lr

    def _store(self, lane: Lane) -> None:
        lane.state = self.learner.trainable_state()
        lane.optimizer = copy.deepcopy(self.trainer.optimizer.state_dict())

    def _advance(self, lane: Lane, to: int, epoch: int, batches: Sequence[torch.Tensor],
                 feats: torch.Tensor | None) -> None:
        if lane.steps >= to:
            return
        self._load(lane)
        labels = self.trainer.labels
        for step in range(lane.steps, to):
            idx = batches[step]
            loss, acc = self.trainer.train_step(self.trainer.batch_inputs(epoch, idx, feats), labels[idx])
            lane.losses.append(loss)
            lane.accs.append(acc)
        lane.steps = to
        self._store(lane)

    def _score(self, lane: Lane) -> None:
        self.learner.load_trainable_state(lane.state)
        lane.val_acc, lane.val_loss = validation_score(self.learner, self.val)
        lane.rungs.append({"steps": lane.steps, "val_acc": lane.val_acc, "val_loss": lane.val_loss,
                           "train_loss": (sum(lane.losses) / len(lane.losses)) if lane.losses else None})

    def run(self, starts: Sequence[Start], *, epoch: int, steps: int) -> RaceResult:
        """Race ``starts`` over the first ``steps`` steps of 0-based ``epoch`` and leave the learner and the
        optimizer at the winner's state (its steps are *not* yet committed to the trainer)."""
        if not starts:
            raise ValueError("a race needs at least one starter")
        trainer = self.trainer
        base_opt = copy.deepcopy(trainer.optimizer.state_dict())
        fresh = copy.deepcopy(base_opt)
        fresh["state"] = {}
        lanes = [Lane(s, i, {k: v.clone() for k, v in s.state.items()},
                      copy.deepcopy(s.optimizer) if s.optimizer is not None else copy.deepcopy(fresh))
                 for i, s in enumerate(starts)]
        batches: list[torch.Tensor] = []
        feats = None
        lr = None
        if steps:
            lr = self.lr = trainer.set_lr(epoch)
            batches = trainer.epoch_batches(epoch)[:steps]
            steps = len(batches)
            feats = trainer.epoch_inputs(epoch)
        alive = list(lanes)
        for target in rung_targets(len(lanes), steps) or [0]:
            for lane in alive:
                self._advance(lane, target, epoch, batches, feats)
                self._score(lane)
            alive.sort(key=Lane.key)
            keep = max(1, math.ceil(len(alive) / 2)) if len(alive) > 1 else 1
            for lane in alive[keep:]:
                lane.out_at = lane.steps
            alive = alive[:keep]
        winner = alive[0]
        if winner.steps < steps:
            self._advance(winner, steps, epoch, batches, feats)
            self._score(winner)
        self._load(winner)
        record = {
            "epoch": epoch + 1, "steps": steps, "lr": lr, "rungs": rung_targets(len(lanes), steps),
            "gradient_steps": sum(lane.steps for lane in lanes),
            "starters": [{"text": ln.start.text, "source": ln.start.source, "pre": ln.start.pre,
                          "fresh_momentum": ln.start.optimizer is None, "rungs": ln.rungs,
                          "eliminated_at": ln.out_at} for ln in lanes],
            "winner": {"index": winner.index, "text": winner.start.text, "source": winner.start.source,
                       "val_acc": winner.val_acc, "val_loss": winner.val_loss, "steps": winner.steps},
        }
        return RaceResult(winner, record)
