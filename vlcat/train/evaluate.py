"""Classification metrics from logits: what the papers print plus what a researcher debugs with."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import f1_score, recall_score


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, classnames: list[str]) -> dict:
    """Top-1 accuracy, macro-F1 and per-class accuracy, all in percent."""
    pred = logits.argmax(dim=-1).cpu().numpy()
    true = labels.cpu().numpy()
    ids = np.arange(len(classnames))
    per_class = recall_score(true, pred, labels=ids, average=None, zero_division=0) * 100.0
    present = np.isin(ids, true)
    return {
        "accuracy": float((pred == true).mean() * 100.0) if len(true) else float("nan"),
        "macro_f1": float(f1_score(true, pred, labels=ids[present], average="macro", zero_division=0) * 100.0),
        "per_class_accuracy": {classnames[i]: float(per_class[i]) for i in ids if present[i]},
        "n": int(len(true)),
    }


@torch.no_grad()
def predict_logits(learner, features: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits for cached features, as the learner evaluates itself (``PromptLearner.predict``)."""
    return learner.predict(features, batch_size)
