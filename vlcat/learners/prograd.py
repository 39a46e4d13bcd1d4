"""ProGrad (Zhu et al., ICCV 2023): prompt-aligned gradient.

CoOp's prompt and cross-entropy loss, but each update keeps only the part of the cross-entropy gradient
that does not conflict with the "general knowledge" direction: the gradient of

    L_kd = T^2 * KL( softmax(z^zs / T) || softmax(z / T) )   (mean over the batch)

where ``z^zs`` are zero-shot CLIP's logits with the hand-written prompt and ``z`` the learner's. Per
parameter tensor, with ``g_ce`` and ``g_kd`` the two gradients:

    g = g_ce                                               if cos(g_ce, g_kd) >= 0
    g = g_ce - lambda * (g_ce . g_kd / |g_kd|^2) g_kd       otherwise

(lambda = 1 removes the conflicting component entirely). The authors' code computes the KL as the
cross-entropy to the teacher's distribution, which has the same gradient. Their base-to-novel setting:
RN50, 4 shots, 16 context vectors whose last slots are initialised from the words of their per-dataset
template (``PROGRAD_TEMPLATES``, the class name last) and the first ones with zeros, lambda = 1, T = 1,
100 epochs, batch 32. vlcat places the template's *tokens* (the authors count words; the two agree
unless a word is several tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import LossOutput, TaskSpec
from vlcat.learners.coop import CoOp, context_kwargs
from vlcat.learners.kgcoop import paper_template
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features

#: The authors' hand-written prompts (ProGrad.public/trainers/prograd.py, CUSTOM_TEMPLATES), by vlcat card.
PROGRAD_TEMPLATES = {
    "oxford_pets": "a type of pet, a photo of a {}.",
    "oxford_flowers": "a type of flower, a photo of a {}.",
    "fgvc_aircraft": "a type of aircraft, a photo of a {}.",
    "dtd": "a texture of {}.",
    "eurosat": "a centered satellite photo of {}.",
    "stanford_cars": "a photo of a {}.",
    "food101": "a type of food, a photo of {}.",
    "sun397": "a photo of a {}.",
    "caltech101": "a photo of a {}.",
    "ucf101": "a photo of a person doing {}.",
    "imagenet": "a photo of a {}.",
    "imagenet_sketch": "a photo of a {}.",
    "imagenet_v2": "a photo of a {}.",
    "imagenet_a": "a photo of a {}.",
    "imagenet_r": "a photo of a {}.",
}


@dataclass
class ProGradOptions:
    weight: float = 1.0
    """lambda: how much of the conflicting component is removed (the authors: 1.0)."""
    temperature: float = 1.0
    """T of the distillation KL (the authors: 1.0)."""
    templates: str = "paper"
    """paper (the authors' per-dataset templates, the card's elsewhere) | card: the zero-shot teacher's prompt."""
    init: str = "template"
    """template (the authors: the teacher prompt's words in the last context slots, zeros before) |
    coop (learner.ctx_init or random, as CoOp)."""


def template_words(template: str) -> str:
    """The words before the class slot ("a type of pet, a photo of a {}." -> "a type of pet, a photo of a")."""
    return template.split("{}")[0].strip()


@register_learner("prograd", options=ProGradOptions)
class ProGrad(CoOp):
    """CoOp trained with prompt-aligned gradients; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> ProGrad:
        o = cfg.prograd
        template = paper_template(PROGRAD_TEMPLATES, task, o.templates)
        return cls(clip, task.classnames, weight=o.weight, temperature=o.temperature, template=template,
                   init_from_template=o.init == "template", **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        o = cfg.prograd
        if o.weight < 0:
            raise ConfigError(f"learner.prograd.weight must be >= 0, got {o.weight}")
        if o.temperature <= 0:
            raise ConfigError(f"learner.prograd.temperature must be > 0, got {o.temperature}")
        if o.templates not in ("paper", "card"):
            raise ConfigError(f"learner.prograd.templates={o.templates!r} is not one of: paper, card")
        if o.init not in ("template", "coop"):
            raise ConfigError(f"learner.prograd.init={o.init!r} is not one of: template, coop")
        if o.init == "template" and (cfg.ctx_init.strip() or cfg.csc or cfg.class_token_position != "end"):
            raise ConfigError("learner.prograd.init=template fills a shared context that ends before the class "
                              "name; use learner.prograd.init=coop with learner.ctx_init, csc or another position")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, weight: float = 1.0, temperature: float = 1.0,
                 template: str = "a photo of a {}.", init_from_template: bool = False, **kwargs: Any) -> None:
        super().__init__(clip, classnames, **kwargs)
        self.weight = float(weight)
        self.temperature = float(temperature)
        self.template = template
        self.register_buffer("teacher", template_features(self, template), persistent=False)
        if init_from_template:
            ids = self.text_token_ids(template_words(template))[-self.n_ctx:]
            with torch.no_grad():
                self.ctx.zero_()
                if ids:
                    table = self.token_embedding
                    self.ctx[self.n_ctx - len(ids):] = table[torch.tensor(ids, device=table.device)].float()

    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        logits = self.logits(inputs)
        with torch.no_grad():
            teacher = self.cosine_logits(inputs, self.teacher)
        t = self.temperature
        ce = F.cross_entropy(logits.float(), labels)
        kd = F.kl_div(F.log_softmax(logits.float() / t, dim=-1), F.log_softmax(teacher.float() / t, dim=-1),
                      reduction="batchmean", log_target=True) * t * t
        return LossOutput(ce, logits, {"ce": ce, "kd": kd})

    def backward(self, out: LossOutput) -> None:
        """Per parameter tensor: project the CE gradient off the KD gradient where they conflict."""
        params = [p for p in self.parameters() if p.requires_grad]
        g_kd = torch.autograd.grad(out.terms["kd"], params, retain_graph=True, allow_unused=True)
        g_ce = torch.autograd.grad(out.terms["ce"], params, allow_unused=True)
        for p, a, b in zip(params, g_ce, g_kd, strict=True):
            p.grad = None if a is None else project_conflict(a, b, self.weight)


def project_conflict(g: torch.Tensor, ref: torch.Tensor | None, weight: float) -> torch.Tensor:
    """``g - weight * (g . r) r`` with ``r = ref/|ref|`` when ``g . ref < 0``; ``g`` unchanged otherwise."""
    if ref is None:
        return g
    norm = torch.linalg.vector_norm(ref)
    if norm == 0:
        return g
    r = ref / norm
    dot = torch.dot(g.flatten(), r.flatten())
    return g - weight * dot * r if dot < 0 else g
