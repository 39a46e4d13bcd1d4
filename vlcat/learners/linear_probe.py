"""Linear probe (Radford et al., 2021; CoOp's few-shot baseline): logistic regression on image features.

As CoOp's ``lpclip/linear_probe.py`` does it: scikit-learn's L2-regularised ``LogisticRegression``
(lbfgs, 1000 iterations) on the frozen image features of the few-shot training images, its inverse
regularisation strength C chosen on the few-shot validation split: first the grid 1e6, 1e4, ..., 1e-6,
then 8 rounds of a search between 0.1x and 10x the best grid value (each round keeps the better end and
halves the interval in log10 space; ties keep the lower C), the last round's classifier being the
result. With ``learner.linear_probe.c`` set, that C is used and no validation split is needed.

The classifier has one weight row per training class, so it cannot score classes it never saw. Asked
for a subset of its training classes (a probe trained on all classes, evaluated on the novel ones) it
keeps those classes' rows, picked by class name, so its logits cover just the requested classes; asked
for a class it never saw it refuses in one line. There is no prompt and no context, so the LLM catalyst
does not apply.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import PromptLearner, TaskSpec, tokenize
from vlcat.learners.options import LinearProbeOptions
from vlcat.learners.registry import register_learner

GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)


@register_learner("linear_probe", options=LinearProbeOptions)
class LinearProbe(PromptLearner):
    """Logistic regression on image features; see the module docstring."""

    trained_by = "fit"
    scores_new_classes = False
    follows_clip_dtype = False  # fitted in float64/32 by scikit-learn, as CoOp's lpclip does, under any precision

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> LinearProbe:
        o = cfg.linear_probe
        return cls(clip, task.classnames, c=o.c, search_steps=o.search_steps, max_iter=o.max_iter)

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        o = cfg.linear_probe
        if o.c < 0 or o.search_steps < 0 or o.max_iter < 1:
            raise ConfigError("learner.linear_probe needs c >= 0 (0 = search), search_steps >= 0, max_iter >= 1")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, c: float = 0.0, search_steps: int = 8,
                 max_iter: int = 1000) -> None:
        super().__init__(clip, classnames)
        self.c, self.search_steps, self.max_iter = float(c), int(search_steps), int(max_iter)
        with torch.no_grad():  # the width of the joint embedding space, which image features live in
            ids = tokenize(clip, ["a"])
            emb = self.encoder.tower.token_embedding(ids)
            dim = int(self.encoder(emb, self.encoder.pool_index(ids), ids).shape[-1])
        self.register_buffer("weight", torch.zeros(len(self.classnames), dim))
        self.register_buffer("bias", torch.zeros(len(self.classnames)))
        self.register_buffer("chosen_c", torch.tensor(math.nan, dtype=torch.float64))

    # ----- fitting -------------------------------------------------------------------------------
    def _fit_one(self, c: float, x: np.ndarray, y: np.ndarray):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        with warnings.catch_warnings():  # CoOp's 1000 lbfgs iterations do not always converge at huge C
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LogisticRegression(solver="lbfgs", max_iter=self.max_iter, C=c).fit(x, y)  # L2 by default

    def fit(self, features: torch.Tensor, labels: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None
            ) -> dict[str, Any]:
        x, y = features.float().cpu().numpy(), labels.cpu().numpy()
        if len(np.unique(y)) != len(self.classnames):
            raise ConfigError(f"the linear probe needs training images of all {len(self.classnames)} classes")
        searched: list[tuple[float, float]] = []
        if self.c > 0:
            clf, c = self._fit_one(self.c, x, y), self.c
        else:
            if val is None or len(val[0]) == 0:
                raise ConfigError("the linear probe chooses C on the few-shot validation split, and this dataset "
                                  "has none; set learner.linear_probe.c")
            vx, vy = val[0].float().cpu().numpy(), val[1].cpu().numpy()

            def acc(model) -> float:
                return float((model.predict(vx) == vy).mean())

            grid = [(acc(self._fit_one(c, x, y)), c) for c in GRID]
            searched += [(c, a) for a, c in grid]
            peak = GRID[int(np.argmax([a for a, _ in grid]))]
            lo, hi = 0.1 * peak, 10.0 * peak
            clf, c = self._fit_one(peak, x, y), peak
            for _ in range(self.search_steps):
                left, right = self._fit_one(lo, x, y), self._fit_one(hi, x, y)
                a_left, a_right = acc(left), acc(right)
                searched += [(lo, a_left), (hi, a_right)]
                mid = 0.5 * (math.log10(lo) + math.log10(hi))
                if a_left < a_right:
                    clf, c = right, hi
                    lo, hi = 10.0 ** mid, hi
                else:
                    clf, c = left, lo
                    lo, hi = lo, 10.0 ** mid
        order = np.argsort(clf.classes_)  # rows in label order
        coef = clf.coef_ if len(clf.classes_) > 2 else np.concatenate([-clf.coef_, clf.coef_]) / 2.0
        icpt = clf.intercept_ if len(clf.classes_) > 2 else np.concatenate([-clf.intercept_, clf.intercept_]) / 2.0
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(coef[order]).float())
            self.bias.copy_(torch.from_numpy(icpt[order]).float())
            self.chosen_c.fill_(c)
        return {"c": c, "searched": [{"c": k, "val_acc": a * 100.0} for k, a in searched]}

    # ----- scoring -------------------------------------------------------------------------------
    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        """The classifier's decision function ``x W^T + b`` on the raw image features."""
        return image_features.float() @ self.weight.t() + self.bias

    def new_classes_error(self) -> str | None:
        return ("the linear probe has no weights for classes it never saw in training; it scores only its training "
                "classes (train it with data.subsample_classes=all to evaluate the novel ones)")

    def state_for_classes(self, state: dict[str, torch.Tensor], trained: list[str]) -> dict[str, torch.Tensor]:
        """The saved rows of this probe's classes, by name (the requested classes' labels need not be the
        training labels: the novel half is relabelled from 0)."""
        index = self.trained_class_index(trained, "the linear probe was trained", "weights")
        return {**state, "weight": state["weight"][index], "bias": state["bias"][index]}

    def prompt_text(self) -> str:
        return f"linear probe (C={float(self.chosen_c):.4g})"

    # ----- checkpoints ---------------------------------------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k).detach().clone() for k in ("weight", "bias", "chosen_c")}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in state.items():
                getattr(self, k).copy_(v)
