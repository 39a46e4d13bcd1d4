"""Zero-shot CLIP with hand-written templates: the reference row of every table."""

from __future__ import annotations

from typing import Any

import torch

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import PromptLearner, TaskSpec, tokenize
from vlcat.learners.options import ZeroShotOptions
from vlcat.learners.registry import register_learner


def template_features(learner: PromptLearner, template: str, classnames: list[str] | None = None, *,
                      normalize: bool = True) -> torch.Tensor:
    """L2-normalised text features ``[C, E]`` of a hand-written template filled with each class name
    (underscores read as spaces, as CoOp and its successors do), through the learner's frozen encoder;
    ``normalize=False`` returns them as the tower gives them (PromptSRC averages those over its templates)."""
    names = [n.replace("_", " ") for n in (learner.classnames if classnames is None else classnames)]
    with torch.no_grad():
        ids = tokenize(learner.clip, [template.format(name) for name in names])
        emb = learner.encoder.tower.token_embedding(ids)
        f = learner.encoder(emb, learner.encoder.pool_index(ids), ids).float()
    return f / f.norm(dim=-1, keepdim=True) if normalize else f


@register_learner("zeroshot", options=ZeroShotOptions)
class ZeroShotCLIP(PromptLearner):
    """Class weights from templates such as "a photo of a {}."; several templates are averaged
    (CLIP's prompt ensembling: mean of the normalised features of each template). Nothing trains, so
    runs need no training images and the LLM catalyst has nothing to act on."""

    trained_by = "none"

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> ZeroShotCLIP:
        ensemble = cfg.zeroshot.templates == "ensemble" and task.templates
        return cls(clip, task.classnames, list(task.templates) if ensemble else [task.template])

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        if cfg.zeroshot.templates not in ("single", "ensemble"):
            raise ConfigError(f"learner.zeroshot.templates={cfg.zeroshot.templates!r} is not one of: single, ensemble")

    def __init__(self, clip: ClipBundle, classnames: list[str], templates: list[str]) -> None:
        super().__init__(clip, classnames)
        if not templates:
            raise ValueError("zero-shot needs at least one template")
        self.templates = list(templates)
        weights = torch.stack([template_features(self, tpl) for tpl in self.templates]).mean(0)
        self.register_buffer("weights", weights, persistent=False)

    def class_features(self) -> torch.Tensor:
        return self.weights

    def prompt_text(self) -> str:
        return " | ".join(self.templates)
