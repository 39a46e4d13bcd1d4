"""Best-validation selection: keep the epoch-end state with the best few-shot validation accuracy.

CoOp evaluates the last epoch's prompt, and so does vlcat by default. Comparisons that select anything
on validation (the catalyst's look-ahead race does) can put both sides on the same footing with
``train.select_best_val=true``: at every epoch end the learner is scored on the un-augmented few-shot
validation images (accuracy, validation loss breaking ties; an earlier epoch wins an exact tie), the best
trainable state is kept, and at the end of training the learner is set to it and the final checkpoint
rewritten with it (so ``tools/eval.py`` evaluates the selected state too). The test split is never read.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vlcat.errors import ConfigError
from vlcat.train.trainer import Trainer, TrainerCallback


@torch.no_grad()
def validation_score(learner: Any, val: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
    """(accuracy %, cross-entropy) of the learner's current state on validation features and labels."""
    feats, labels = val
    logits = learner.predict(feats).float()
    labels = labels.to(logits.device)
    acc = float((logits.argmax(-1) == labels).float().mean().item() * 100.0)
    return acc, float(F.cross_entropy(logits, labels).item())


class BestValidation(TrainerCallback):
    """See the module docstring. Runs after every other callback (a stage may change the context)."""

    def __init__(self) -> None:
        self.best: dict[str, Any] | None = None  # {"epoch", "val_acc", "val_loss", "state"}
        self.scores: list[dict[str, float]] = []

    def on_train_start(self, trainer: Trainer) -> None:
        if not trainer.val_items:
            raise ConfigError("train.select_best_val=true needs a validation split, and this dataset has none")

    def on_epoch_end(self, trainer: Trainer, epoch: int, summary: dict[str, Any]) -> None:
        acc, loss = validation_score(trainer.learner, trainer.plain_features("val"))
        self.scores.append({"epoch": epoch, "val_acc": acc, "val_loss": loss})
        if self.best is None or (-acc, loss) < (-self.best["val_acc"], self.best["val_loss"]):
            self.best = {"epoch": epoch, "val_acc": acc, "val_loss": loss, "state": trainer.learner.trainable_state()}

    def on_train_end(self, trainer: Trainer) -> None:
        if self.best is not None:
            trainer.learner.load_trainable_state(self.best["state"])
            trainer.save(trainer.cfg.optim.max_epoch, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "scores": [[s["epoch"], s["val_acc"], s["val_loss"]] for s in self.scores]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.best = state.get("best")
            self.scores = [{"epoch": int(e), "val_acc": float(a), "val_loss": float(lo)}
                           for e, a, lo in state.get("scores", [])]

    def summary(self) -> dict[str, Any]:
        best = None if self.best is None else {k: v for k, v in self.best.items() if k != "state"}
        return {"selection": {"rule": "best few-shot validation accuracy (loss breaks ties)", "best": best,
                              "per_epoch": self.scores}}
