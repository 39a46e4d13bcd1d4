"""The optimisation trajectory of one stage: decoded context snapshots with the loss at that moment.

Snapshots are decoded to text when they are taken, so the trajectory holds only small JSON-able
records (no tensors): it goes into checkpoints as-is and a resumed run continues the same trajectory.
Two snapshots that decode to the same text say the same thing to the LLM, so only the latest is kept;
the length is bounded so that the meta-prompt stays short whatever the stage length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Snapshot:
    global_step: int
    epoch: int
    loss: float
    """Mean training loss of the steps since the previous snapshot (augmented batches, as trained)."""
    acc: float
    val_acc: float | None
    text: str
    token_ids: list[int]
    similarities: list[float]
    """Per-slot similarity of the context vector to its decoded token (cosine, or -L2)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunningMean:
    """Mean of the step losses/accuracies since the last reset (the last snapshot)."""

    loss_sum: float = 0.0
    acc_sum: float = 0.0
    count: int = 0

    def add(self, loss: float, acc: float) -> None:
        self.loss_sum += float(loss)
        self.acc_sum += float(acc)
        self.count += 1

    def means(self) -> tuple[float, float]:
        n = max(1, self.count)
        return self.loss_sum / n, self.acc_sum / n

    def reset(self) -> None:
        self.loss_sum, self.acc_sum, self.count = 0.0, 0.0, 0


@dataclass
class Trajectory:
    max_len: int
    snapshots: list[Snapshot] = field(default_factory=list)

    def add(self, snap: Snapshot) -> None:
        """Append, replacing an older snapshot with the same text and dropping the oldest beyond the bound."""
        key = normalize(snap.text)
        self.snapshots = [s for s in self.snapshots if normalize(s.text) != key]
        self.snapshots.append(snap)
        if len(self.snapshots) > self.max_len:
            self.snapshots = self.snapshots[-self.max_len:]

    def clear(self) -> None:
        self.snapshots = []

    def __len__(self) -> int:
        return len(self.snapshots)

    def state_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.snapshots]

    def load_state_dict(self, state: list[dict[str, Any]]) -> None:
        self.snapshots = [Snapshot(**s) for s in state]


def normalize(text: str) -> str:
    """Key for deduplication: case and spacing do not make a different prompt."""
    return " ".join(text.lower().split())
