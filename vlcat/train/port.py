"""The trainer port: the whole of what a training-time plug-in (the LLM catalyst) sees of training.

A plug-in is a :class:`vlcat.train.trainer.TrainerCallback`; the trainer calls its hook points
(``on_train_start``, ``on_step_end`` after every step, ``on_epoch_end`` after every epoch, the look-ahead
race's place, ``on_train_end``; ``state_dict``/``load_state_dict`` ride in the checkpoint) and hands it
itself, seen through :class:`TrainingPort`. The port names every operation a plug-in may use, so that
what the catalyst may do to a run is written down in one place and typed, instead of being whatever
attributes of the trainer it happens to reach:

* what is trained: ``learner`` (the catalyst uses only its context protocol,
  :mod:`vlcat.learners.context`), and where training stands: ``global_step``, ``steps_per_epoch``,
  ``max_epoch``;
* fixed images to score prompts on: ``plain_features`` (un-augmented train or val features; preprocessed
  images for a learner that takes pixels, which the catalyst refuses);
* a metrics line: ``log``;
* the state a look-ahead starts from and returns to: ``trainable_state``/``load_trainable_state``,
  ``optimizer_state``/``load_optimizer_state`` (SGD momentum, and the LR to run at), ``reset_momentum``;
* the look-ahead itself: ``epoch_slice`` (the first steps of an epoch exactly as the loop would run
  them: its LR, batches and inputs), ``run_steps`` (gradient steps of such a slice from the current
  state), ``evaluate`` (accuracy and loss on given features, e.g. validation), and
  ``steps_done_ahead`` (the loop keeps the steps the winner already made).

The :class:`~vlcat.train.trainer.Trainer` implements it directly (a structural ``Protocol``:
``isinstance(trainer, TrainingPort)`` holds); nothing here imports the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from vlcat.learners.base import PromptLearner


@dataclass(frozen=True)
class StepOutcome:
    """One gradient step's loss, training accuracy (%) and the learner's named loss terms."""

    loss: float
    acc: float
    terms: dict[str, float]


@dataclass(frozen=True)
class Evaluation:
    """Scores of the current trainable state on given features."""

    correct: torch.Tensor
    """Which images it gets right (bool, on the CPU): paired comparisons need more than the mean."""
    acc: float
    """Top-1 accuracy (%)."""
    loss: float
    """Cross-entropy."""


@dataclass(frozen=True)
class EpochSlice:
    """The first steps of one 0-based epoch as the training loop would run them."""

    epoch: int
    lr: float | None
    """The epoch's learning rate (None for an empty slice, which sets nothing)."""
    batches: list[torch.Tensor]
    """Index batches, in the loop's order."""
    inputs: torch.Tensor | None
    """The epoch's cached augmented features, or None when batches are computed live."""

    @classmethod
    def empty(cls, epoch: int) -> EpochSlice:
        return cls(epoch, None, [], None)


@runtime_checkable
class TrainingPort(Protocol):
    """What a training-time plug-in may read and do (see the module docstring)."""

    @property
    def learner(self) -> PromptLearner: ...

    @property
    def global_step(self) -> int: ...

    @property
    def steps_per_epoch(self) -> int: ...

    @property
    def max_epoch(self) -> int: ...

    def plain_features(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]: ...

    def log(self, record: dict[str, Any]) -> None: ...

    def trainable_state(self) -> dict[str, torch.Tensor]: ...

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None: ...

    def optimizer_state(self) -> dict[str, Any]: ...

    def load_optimizer_state(self, state: dict[str, Any], lr: float | None = None) -> None: ...

    def reset_momentum(self) -> None: ...

    def epoch_slice(self, epoch: int, steps: int) -> EpochSlice: ...

    def run_steps(self, part: EpochSlice, start: int, stop: int) -> list[StepOutcome]: ...

    def evaluate(self, inputs: torch.Tensor, labels: torch.Tensor) -> Evaluation: ...

    def steps_done_ahead(self, epoch: int, steps: int, losses: list[float], accs: list[float],
                         terms: Sequence[dict[str, float]] | None = None) -> None: ...


PORT_MEMBERS = frozenset(n for n in vars(TrainingPort) if not n.startswith("_"))
"""The port's member names: the catalyst uses no other attribute of the trainer (a test reads its source)."""
