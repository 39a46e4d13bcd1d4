"""KgCoOp (Yao et al., CVPR 2023): knowledge-guided context optimisation.

CoOp's prompt, plus a term that keeps the learned class features close to the hand-written ones, so the
context does not forget what CLIP knew about unseen classes:

    L = CE(s * cos(x, w_y)) + lambda * (1 - (1/C) sum_c cos(w_c, w_c^clip))

with ``w_c`` the learned class features and ``w_c^clip`` CLIP's features of a hand-written prompt for
class c. The authors weight the term by lambda = 8 and build ``w^clip`` from their own per-dataset
templates (each dataset card's ``method_templates.kgcoop``; they differ from CoOp's for DTD: "a photo of
a {}, a type of texture." instead of "{} texture."). ``learner.kgcoop.templates=card`` uses the
dataset card's template instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import LossOutput, TaskSpec
from vlcat.learners.coop import CoOp, context_kwargs
from vlcat.learners.options import KgCoOpOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features


def paper_template(method: str, task: TaskSpec, which: str) -> str:
    """The authors' template for this dataset when asked and the card has one (its ``method_templates``),
    else the card's own."""
    return task.method_templates.get(method, task.template) if which == "paper" else task.template


@register_learner("kgcoop", options=KgCoOpOptions)
class KgCoOp(CoOp):
    """CoOp with the knowledge-guided regulariser; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> KgCoOp:
        template = paper_template("kgcoop", task, cfg.kgcoop.templates)
        return cls(clip, task.classnames, weight=cfg.kgcoop.weight, template=template, **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        if cfg.kgcoop.weight < 0:
            raise ConfigError(f"learner.kgcoop.weight must be >= 0, got {cfg.kgcoop.weight}")
        if cfg.kgcoop.templates not in ("paper", "card"):
            raise ConfigError(f"learner.kgcoop.templates={cfg.kgcoop.templates!r} is not one of: paper, card")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 4, ctx_init: str = "a photo of a",
                 weight: float = 8.0, template: str = "a photo of a {}.", **kwargs: Any) -> None:
        """Defaults are the authors' released base-to-novel setting (configs/learners/kgcoop.yaml)."""
        super().__init__(clip, classnames, n_ctx=n_ctx, ctx_init=ctx_init, **kwargs)
        self.weight = float(weight)
        self.template = template
        self.register_buffer("handwritten", template_features(self, template), persistent=False)

    def knowledge_term(self, class_features: torch.Tensor) -> torch.Tensor:
        """``1 - mean_c cos(w_c, w_c^clip)``."""
        return 1.0 - F.cosine_similarity(class_features.float(), self.handwritten, dim=-1, eps=1e-7).mean()

    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        class_feats = self.class_features()
        logits = self.logits(inputs, class_feats)
        ce = F.cross_entropy(logits.float(), labels)
        kg = self.knowledge_term(class_feats)
        return LossOutput(ce + self.weight * kg, logits, {"ce": ce.detach(), "kg": kg.detach()})
