"""Tip-Adapter (Zhang et al., ECCV 2022; arXiv 2111.03930): CLIP plus a training-free cache of the few shots.

As the authors' code (gaopengcuhk/Tip-Adapter ``main.py`` ``run_tip_adapter``, ``utils.py``
``build_cache_model``, ``search_hp``) computes it, with ``f`` an image's L2-normalised feature, ``W`` the
L2-normalised zero-shot class weights, ``K`` the cache keys ``[N, E]`` and ``V`` the one-hot labels ``[N, C]``
of the ``N`` few-shot training images:

    A      = exp(-beta * (1 - f K^T))                 the affinity to every cached image
    logits = 100 * f W^T + alpha * A V                CLIP's zero-shot logits plus the cache's

``100`` is CLIP's logit scale; here it is the model's own (``exp(logit_scale)``, 100 for OpenAI's weights,
plus SigLIP's bias where there is one). The cache (``build_cache_model``): every training image is encoded
``augment_epoch`` = 10 times under random augmentation (``RandomResizedCrop(224, scale=(0.5, 1))``, bicubic,
horizontal flip), the 10 unnormalised features of an image are averaged and the mean is L2-normalised into
its key. Here the views are the trainer's augmented crops of epochs 0..9 (``clip.train_transform``, the
run's seed, from the feature cache; ``train.crop_scale_min: 0.5`` in the YAML gives the authors' crop).

alpha and beta are then chosen on the few-shot validation split (``search_hp``): beta over
``0.1 + i * (beta_max - 0.1) / beta_steps`` for i < beta_steps (200), alpha likewise (20 steps), beta in
the outer loop, the first pair with the highest validation accuracy kept (a strict ``>``). The bounds and
alpha's starting value differ per dataset in the authors' ``configs/<dataset>.yaml`` (:data:`PAPER`);
datasets outside their table get ImageNet's. Their zero-shot classifier is the dataset's single CoOp
template, except ImageNet's ensemble of CLIP's 7 templates (:data:`IMAGENET_TEMPLATES`).

The cache holds one-hot columns for the training classes only, so Tip-Adapter cannot score a class it has
no cache for; asked for a subset of its classes (a run on all classes evaluated on the novel half) it
keeps those classes' columns, picked by name, as the linear probe keeps its rows. No context: the LLM
catalyst does not apply. Tip-Adapter-F (:mod:`vlcat.learners.tip_adapter_f`) fine-tunes the keys.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import LearnerStateError, PromptLearner, TaskSpec
from vlcat.learners.options import TipAdapterOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features


@dataclass(frozen=True)
class PaperSetting:
    """One dataset's values in the authors' ``configs/<dataset>.yaml``."""

    beta_max: float
    """``search_scale[0]``."""
    alpha_max: float
    """``search_scale[1]``."""
    init_alpha: float
    """``init_alpha`` (``init_beta`` is 1 everywhere)."""


PAPER: dict[str, PaperSetting] = {
    "caltech101": PaperSetting(12, 5, 3),
    "dtd": PaperSetting(13, 13, 2),
    "eurosat": PaperSetting(12, 10, 2),
    "fgvc_aircraft": PaperSetting(30, 30, 5),
    "food101": PaperSetting(10, 10, 1.17),
    "imagenet": PaperSetting(7, 3, 1.17),
    "oxford_flowers": PaperSetting(50, 50, 10),
    "oxford_pets": PaperSetting(7, 3, 1.17),
    "stanford_cars": PaperSetting(20, 10, 3),
    "sun397": PaperSetting(12, 10, 1.17),
    "ucf101": PaperSetting(7, 3, 3),
}
"""gaopengcuhk/Tip-Adapter ``configs/*.yaml`` (``fgvc.yaml`` is vlcat's ``fgvc_aircraft``)."""
DEFAULT_SETTING = PAPER["imagenet"]
"""For datasets outside the authors' table: ImageNet's, the paper's main setting."""

IMAGENET_TEMPLATES = ("itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                      "a {} in a video game.", "art of the {}.", "a photo of the small {}.")
"""The 7 templates of Tip-Adapter's ImageNet classifier (``datasets/imagenet.py``; CLIP's selection)."""
TEMPLATE_CHOICES = ("paper", "single", "ensemble")


def paper_setting(dataset: str) -> PaperSetting:
    return PAPER.get(dataset, DEFAULT_SETTING)


def task_templates(task: TaskSpec, which: str) -> list[str]:
    """The zero-shot classifier's templates: ``paper`` (ImageNet and its variants: the 7 templates; else the
    card's template), ``single`` (the card's template) or ``ensemble`` (the card's list)."""
    if which == "paper" and task.dataset.startswith("imagenet"):
        return list(IMAGENET_TEMPLATES)
    if which == "ensemble" and task.templates:
        return list(task.templates)
    return [task.template]


def ensemble_weights(learner: PromptLearner, templates: list[str]) -> torch.Tensor:
    """Zero-shot class weights ``[C, E]``: each template's normalised features, averaged, normalised again
    (Tip-Adapter's ``clip_classifier``)."""
    w = torch.stack([template_features(learner, t) for t in templates]).mean(0)
    return F.normalize(w, dim=-1)


def search_grid(upper: float, steps: int) -> list[float]:
    """The authors' grid: ``0.1 + i * (upper - 0.1) / steps`` for ``i = 0 .. steps - 1``."""
    return [i * (upper - 0.1) / steps + 0.1 for i in range(steps)]


def cache_logits(features: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, beta: float) -> torch.Tensor:
    """``exp(-beta * (1 - f K^T)) V`` for L2-normalised ``features`` ``[B, E]``."""
    return torch.exp(-beta * (1.0 - features @ keys.t())) @ values


@dataclass(frozen=True)
class SearchResult:
    beta: float
    alpha: float
    accuracy: float
    """Validation accuracy (%) of the chosen pair."""
    tried: int


@torch.no_grad()
def search_alpha_beta(clip_logits: torch.Tensor, similarity: torch.Tensor, values: torch.Tensor,
                      labels: torch.Tensor, betas: list[float], alphas: list[float]) -> SearchResult:
    """The pair with the best validation accuracy, as ``search_hp`` walks the grid (beta outer, alpha inner,
    the first best kept). ``similarity`` is ``f K^T`` of the validation features; the affinity is computed
    once per beta, since alpha only scales it. Unlike ``search_hp``'s ``best_acc = 0`` start, a grid whose
    every pair scores 0 % still returns its first pair rather than (0, 0)."""
    labels = labels.to(clip_logits.device)
    best: tuple[int, float, float] | None = None
    for beta in betas:
        cache = torch.exp(-beta * (1.0 - similarity)) @ values
        for alpha in alphas:
            correct = int(((clip_logits + alpha * cache).argmax(-1) == labels).sum())
            if best is None or correct > best[0]:
                best = (correct, beta, alpha)
    if best is None:
        raise ValueError("the alpha/beta grid is empty")
    return SearchResult(best[1], best[2], 100.0 * best[0] / max(1, len(labels)), len(betas) * len(alphas))


@register_learner("tip_adapter", options=TipAdapterOptions)
class TipAdapter(PromptLearner):
    """Zero-shot CLIP plus the few-shot cache; see the module docstring."""

    trained_by = "fit"
    scores_new_classes = False
    export_refusal = "adds the logits of its cache of training images to CLIP's"

    @classmethod
    def options_of(cls, cfg: Any) -> Any:
        return getattr(cfg, cls.name)

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> TipAdapter:
        o = cls.options_of(cfg)
        return cls(clip, task.classnames, augment_views=o.augment_views, init_beta=o.init_beta,
                   init_alpha=o.init_alpha, search=o.search, beta_max=o.beta_max, alpha_max=o.alpha_max,
                   beta_steps=o.beta_steps, alpha_steps=o.alpha_steps,
                   templates=task_templates(task, o.templates), dataset=task.dataset)

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        o, node = cls.options_of(cfg), f"learner.{cls.name}"
        if o.templates not in TEMPLATE_CHOICES:
            raise ConfigError(f"{node}.templates={o.templates!r} is not one of: {', '.join(TEMPLATE_CHOICES)}")
        if o.augment_views < 1 or o.beta_steps < 1 or o.alpha_steps < 1:
            raise ConfigError(f"{node} needs augment_views, beta_steps and alpha_steps >= 1")
        if o.init_beta < 0 or o.init_alpha < 0 or o.beta_max < 0 or o.alpha_max < 0:
            raise ConfigError(f"{node}: init_beta, init_alpha, beta_max and alpha_max must be >= 0 "
                              "(0 = the authors' value for the dataset, for all but init_beta)")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, augment_views: int = 10, init_beta: float = 1.0,
                 init_alpha: float = 0.0, search: bool = True, beta_max: float = 0.0, alpha_max: float = 0.0,
                 beta_steps: int = 200, alpha_steps: int = 20, templates: list[str] | None = None,
                 dataset: str = "") -> None:
        """Defaults are the authors' (configs/learners/tip_adapter.yaml); the 0s stand for the value of
        ``dataset`` in :data:`PAPER` (ImageNet's outside it)."""
        super().__init__(clip, classnames)
        paper = paper_setting(dataset)
        self.augment_views, self.search = int(augment_views), bool(search)
        self.beta, self.alpha = float(init_beta), float(init_alpha or paper.init_alpha)
        self.betas = search_grid(beta_max or paper.beta_max, int(beta_steps))
        self.alphas = search_grid(alpha_max or paper.alpha_max, int(alpha_steps))
        self.templates = list(templates or ["a photo of a {}."])
        weights = ensemble_weights(self, self.templates)
        self.register_buffer("weights", weights, persistent=False)
        width = weights.shape[-1]
        self._init_cache(torch.zeros(0, width), torch.zeros(0, len(self.classnames)))

    def _init_cache(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.register_buffer("keys", keys)
        self.register_buffer("values", values)

    def _set_cache(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the cache in place (keys of another size keep their tensor, or Parameter, object)."""
        like = self.keys
        with torch.no_grad():
            self.keys.data = keys.to(like.device, like.dtype).clone()
            self.values = values.to(like.device, like.dtype).clone()

    # ----- the cache -----------------------------------------------------------------------------
    def training_views(self) -> int:
        return self.augment_views

    def start_training(self, views: torch.Tensor, labels: torch.Tensor) -> None:
        """Keys: each image's views averaged, then L2-normalised; values: its one-hot label."""
        keys = F.normalize(views.float().mean(0), dim=-1)
        self._set_cache(keys, F.one_hot(labels.long(), len(self.classnames)).float())

    # ----- scoring -------------------------------------------------------------------------------
    def class_features(self) -> torch.Tensor:
        return self.weights

    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        weights = class_features if class_features is not None else self.weights
        clip_logits = self.cosine_logits(image_features, weights)
        f = F.normalize(image_features.to(self.keys.dtype), dim=-1)
        return clip_logits + self.alpha * cache_logits(f, self.keys, self.values, self.beta).to(clip_logits.dtype)

    # ----- alpha and beta ------------------------------------------------------------------------
    @torch.no_grad()
    def search_on(self, val: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, Any]:
        """Choose alpha and beta on the validation features (the authors' grid), or keep them: with
        ``search=false``, or, with a warning, on a dataset without a validation split."""
        if not self.search:
            return {"alpha": self.alpha, "beta": self.beta, "search": None}
        if val is None or len(val[0]) == 0:
            warnings.warn(f"{self.name}: the dataset has no validation split to choose alpha and beta on; they "
                          f"stay at alpha={self.alpha:g}, beta={self.beta:g} (set learner.{self.name}.search=false "
                          "to say so)", stacklevel=2)
            return {"alpha": self.alpha, "beta": self.beta, "search": "skipped: no validation split"}
        feats = val[0].to(self.weights.device)
        clip_logits = self.cosine_logits(feats, self.weights)
        f = F.normalize(feats.to(self.keys.dtype), dim=-1)
        found = search_alpha_beta(clip_logits, (f @ self.keys.t()).to(clip_logits.dtype),
                                  self.values.to(clip_logits.dtype), val[1], self.betas, self.alphas)
        self.alpha, self.beta = found.alpha, found.beta
        return {"alpha": found.alpha, "beta": found.beta, "search": {"val_acc": found.accuracy, "tried": found.tried,
                                                                     "beta_max": self.betas[-1],
                                                                     "alpha_max": self.alphas[-1]}}

    def fit(self, features: torch.Tensor, labels: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None
            ) -> dict[str, Any]:
        """Training-free: the cache is built (:meth:`start_training`); only alpha and beta are chosen."""
        if len(self.keys) == 0:
            raise RuntimeError("Tip-Adapter's cache is empty: start_training must run before fit")
        return self.search_on(val)

    # ----- classes -------------------------------------------------------------------------------
    def new_classes_error(self) -> str | None:
        return (f"{self.name} has a cache only for the classes it was built on; it scores only those (build it "
                "with data.subsample_classes=all to evaluate the novel ones)")

    def state_for_classes(self, state: dict[str, torch.Tensor], trained: list[str]) -> dict[str, torch.Tensor]:
        """The saved cache with the one-hot columns of this learner's classes, by name: images of other
        classes stay in the cache but vote for no class here (the requested classes' labels need not be
        the training labels: the novel half is relabelled from 0)."""
        index = self.trained_class_index(trained, f"{self.name} was built", "cache column")
        return {**state, "values": state["values"][:, index]}

    def prompt_text(self) -> str:
        return (f"{' | '.join(self.templates)} + cache of {len(self.keys)} images "
                f"(alpha {self.alpha:.4g}, beta {self.beta:.4g})")

    # ----- checkpoints ---------------------------------------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The cache and alpha, beta (float64, so a half-precision run keeps the searched values exactly)."""
        return {"keys": self.keys.detach().clone(), "values": self.values.detach().clone(),
                "alpha_beta": torch.tensor([self.alpha, self.beta], dtype=torch.float64)}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """A cache of any size fits, if its width and class count are this learner's."""
        own = {"keys", "values", "alpha_beta"}
        if set(state) != own:
            raise LearnerStateError(f"the saved state does not fit learner '{self.name}': keys {sorted(state)}, "
                                    f"expected {sorted(own)}")
        keys, values = state["keys"], state["values"]
        if values.dim() != 2 or values.shape[1] != len(self.classnames):
            raise LearnerStateError(self.new_classes_error())
        if keys.dim() != 2 or keys.shape[1] != self.weights.shape[1] or len(keys) != len(values):
            raise LearnerStateError(f"the saved state does not fit learner '{self.name}': a cache of keys "
                                    f"{tuple(keys.shape)} and values {tuple(values.shape)} for features of width "
                                    f"{self.weights.shape[1]}")
        self._set_cache(keys, values)
        self.alpha, self.beta = (float(x) for x in state["alpha_beta"].tolist())
