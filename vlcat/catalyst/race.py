"""The look-ahead race: restarts judged by where they lead, on held-out images, not by where they start.

A text re-embedded into the context slots starts at a worse training loss than the continuous context
gradient descent has been refining, almost always; what matters is where a few gradient steps take it. So
an LLM stage with ``policy=lookahead`` races its starters (the current context, always, plus the best few
texts) over a short gradient look-ahead and judges them on the few-shot *validation* images.

The look-ahead steps are the first ``steps`` steps of the *next* epoch: the same index batches, the same
augmented features, the same learning rate and optimizer settings the training loop would use there. The
winner's steps are kept (``Trainer.steps_done_ahead``) and training continues after them, so

* no work is thrown away and a catalyst run makes exactly as many training steps as plain CoOp;
* when the current context wins, the run continues bit for bit as plain CoOp would have: a stage can
  only change training where the validation split says a text leads somewhere better;
* the LR schedule simply continues (the race sits inside it), and a resume from the checkpoint written
  after the stage is exact, as after an interruption at that step.

**The incumbent is protected.** The first starter is the incumbent (the current context). It always runs
the whole look-ahead (those are the steps training makes anyway) and is never dropped at a rung. The texts
race each other by successive halving: all train to the first rung, the better half (validation accuracy,
then validation loss) goes on to twice the steps, and so on, until one text is left; it finishes the
look-ahead beside the incumbent. A text starter begins with fresh momentum when ``reset_momentum``.

**A switch must be significant.** Validation splits are small (CoOp's min(K, 4) images per class: 48 to
192 images here), so one or two images decide a naive comparison, and the finalist is the best of several
texts on those same images, which flatters it. Both lanes are scored on the same images, so the final
comparison is a paired one: with ``b`` images only the text gets right and ``c`` only the incumbent gets
right, the text takes over only when ``b > c`` and McNemar's statistic ``(b - c) / sqrt(b + c)`` reaches
``switch_z`` (default 1.645, a one-sided 5 % test, fixed before any benchmark). The stage logs record
b, c and the statistic. (The first run of the paired benchmark lost one 16-shot seed because the halving
dropped the incumbent at a rung by one validation image; both rules answer that.)

The race touches training only through the trainer port (:class:`vlcat.train.port.TrainingPort`): the
trainable and optimizer state it starts lanes from and switches between, ``epoch_slice``/``run_steps`` for
the look-ahead steps and ``evaluate`` on the validation features it is given; it never sees the test split.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vlcat.train.port import EpochSlice, TrainingPort

DEFAULT_SWITCH_Z = 1.645


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
    terms: list[dict[str, float]] = field(default_factory=list)
    val_acc: float = math.nan
    val_loss: float = math.nan
    correct: torch.Tensor | None = None
    """Which validation images it gets right at its last score (for the paired switch test)."""
    rungs: list[dict[str, Any]] = field(default_factory=list)
    out_at: int | None = None
    seconds: float = 0.0
    """Wall time of its gradient steps."""

    def key(self) -> tuple[float, float, int]:
        return (-self.val_acc, self.val_loss, self.index)


@dataclass
class RaceResult:
    winner: Lane
    record: dict[str, Any]


def rung_targets(n: int, steps: int) -> list[int]:
    """Steps at which a field of ``n`` texts is halved: ``ceil(log2 n)`` rungs at steps/2^k, ..., steps/2
    (at least 1)."""
    rounds = math.ceil(math.log2(n)) if n > 1 else 0
    return [max(1, steps >> (rounds - k)) if steps else 0 for k in range(rounds)]


def switch_test(text: torch.Tensor, incumbent: torch.Tensor, z: float) -> dict[str, Any]:
    """McNemar's paired comparison of two correctness vectors over the same validation images: does the
    text beat the incumbent by more than the images' noise? ``b``/``c``: images only the text / only the
    incumbent gets right."""
    b = int((text & ~incumbent).sum())
    c = int((~text & incumbent).sum())
    stat = (b - c) / math.sqrt(b + c) if b + c else 0.0
    return {"b": b, "c": c, "z": stat, "threshold": z, "switch": b > c and stat >= z}


class LookaheadRace:
    """Runs one race on a trainer (see the module docstring)."""

    def __init__(self, trainer: TrainingPort, val: tuple[torch.Tensor, torch.Tensor],
                 switch_z: float = DEFAULT_SWITCH_Z) -> None:
        self.trainer = trainer
        self.val = val
        self.switch_z = switch_z
        self.lr: float | None = None

    def _load(self, lane: Lane) -> None:
        # a state_dict carries the LR it was saved with: the look-ahead epoch's wins
        self.trainer.load_trainable_state(lane.state)
        self.trainer.load_optimizer_state(lane.optimizer, self.lr)

    def _store(self, lane: Lane) -> None:
        lane.state = self.trainer.trainable_state()
        lane.optimizer = self.trainer.optimizer_state()

    def _advance(self, lane: Lane, to: int, part: EpochSlice) -> None:
        if lane.steps >= to:
            return
        t = time.perf_counter()
        self._load(lane)
        for out in self.trainer.run_steps(part, lane.steps, to):
            lane.losses.append(out.loss)
            lane.accs.append(out.acc)
            lane.terms.append(out.terms)
        lane.steps = to
        self._store(lane)
        lane.seconds += time.perf_counter() - t

    @torch.no_grad()
    def _score(self, lane: Lane) -> None:
        self.trainer.load_trainable_state(lane.state)
        ev = self.trainer.evaluate(*self.val)
        lane.correct, lane.val_acc, lane.val_loss = ev.correct, ev.acc, ev.loss
        lane.rungs.append({"steps": lane.steps, "val_acc": lane.val_acc, "val_loss": lane.val_loss,
                           "train_loss": (sum(lane.losses) / len(lane.losses)) if lane.losses else None})

    def run(self, starts: Sequence[Start], *, epoch: int, steps: int) -> RaceResult:
        """Race ``starts`` (the first is the incumbent) over the first ``steps`` steps of 0-based ``epoch``
        and leave the learner and the optimizer at the winner's state (its steps are *not* yet committed to
        the trainer)."""
        if not starts:
            raise ValueError("a race needs at least one starter")
        fresh = self.trainer.optimizer_state()
        fresh["state"] = {}
        lanes = [Lane(s, i, {k: v.clone() for k, v in s.state.items()},
                      copy.deepcopy(s.optimizer) if s.optimizer is not None else copy.deepcopy(fresh))
                 for i, s in enumerate(starts)]
        part = EpochSlice.empty(epoch)
        if steps:
            part = self.trainer.epoch_slice(epoch, steps)
            self.lr = part.lr
            steps = len(part.batches)
        lr = part.lr
        incumbent, alive = lanes[0], list(lanes[1:])
        rungs = rung_targets(len(alive), steps)
        for target in rungs:
            for lane in [incumbent, *alive]:
                self._advance(lane, target, part)
                self._score(lane)
            alive.sort(key=Lane.key)
            keep = max(1, math.ceil(len(alive) / 2))
            for lane in alive[keep:]:
                lane.out_at = lane.steps
            alive = alive[:keep]
        for lane in [incumbent, *alive]:
            if lane.steps < steps or not lane.rungs or lane.rungs[-1]["steps"] != lane.steps:
                self._advance(lane, steps, part)
                self._score(lane)
        test = None
        winner = incumbent
        if alive:
            finalist = alive[0]
            test = {"text": finalist.start.text, "source": finalist.start.source,
                    **switch_test(finalist.correct, incumbent.correct, self.switch_z)}
            if test["switch"]:
                winner = finalist
        self._load(winner)
        record = {
            "epoch": epoch + 1, "steps": steps, "lr": lr, "rungs": rungs,
            "gradient_steps": sum(lane.steps for lane in lanes),
            "extra_steps": sum(lane.steps for lane in lanes) - winner.steps,
            "starters": [{"text": ln.start.text, "source": ln.start.source, "pre": ln.start.pre,
                          "fresh_momentum": ln.start.optimizer is None, "rungs": ln.rungs,
                          "eliminated_at": ln.out_at} for ln in lanes],
            "switch_test": test,
            "winner": {"index": winner.index, "text": winner.start.text, "source": winner.start.source,
                       "val_acc": winner.val_acc, "val_loss": winner.val_loss, "steps": winner.steps},
        }
        return RaceResult(winner, record)
