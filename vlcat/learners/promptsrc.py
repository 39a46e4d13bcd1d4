"""PromptSRC, prompting with self-regulating constraints (Khattak et al., ICCV 2023): IVLP's deep prompts, kept
close to frozen CLIP, and aggregated over the epochs.

The prompts are IVLP's (:mod:`vlcat.learners.ivlp`): ``learner.n_ctx`` text context vectors from "a photo of
a" plus one prompt per text layer ``1 .. text_depth - 1``, ``n_ctx_vision`` vision tokens per image layer
``0 .. vision_depth - 1``. The loss of a batch of images ``x`` with labels ``y`` (``~`` marks L2-normalised
features, ``s`` CLIP's logit scale):

    L = CE(z, y) + L_logits + lambda_t * L1(~g_p, ~g_zs) + lambda_i * L1(~f_p(x), ~f_zs(x))

* ``z = s ~f_p(x) ~g_p^T``: the prompted image features of the batch against the prompted class features;
* ``~g_zs``: frozen CLIP's class features, averaged over a template ensemble *before* normalising (each
  template's features as the tower gives them, mean over templates, then L2); the authors' ensemble is
  the 60 templates of their ``trainers/imagenet_templates.py`` ``IMAGENET_TEMPLATES``, for every dataset;
* ``~f_zs(x)``: frozen CLIP's features of the same augmented images (the image tower without prompts);
* ``L1`` is the mean absolute difference over all entries (``F.l1_loss``, reduction mean);
* ``L_logits = KL(softmax(z_zs) || softmax(z)) / (B * C)`` with ``z_zs = s ~f_zs(x) ~g_zs^T``: PyTorch's
  ``F.kl_div(log_softmax(z), log_softmax(z_zs), log_target=True, reduction="sum")`` divided by ``z.numel()``,
  temperature 1 (the authors' ``/ 1`` and ``* (1 * 1)``), weight 1;
* lambda_t = ``TEXT_LOSS_WEIGHT`` 25, lambda_i = ``IMAGE_LOSS_WEIGHT`` 10.

After every epoch the prompts join a Gaussian-weighted sum over the epochs (:mod:`vlcat.learners.gpa`,
``GPA_MEAN`` 15, ``GPA_STD`` 1 over 20 epochs), and after the last one they are replaced by it: the final
checkpoint, the record and every evaluation use the aggregate. The running sum is part of the learner's
checkpointed state (``gpa_sum.<parameter>``), so a run resumed after a kill ends with the same prompts.

Source read for the formulas and defaults (not copied): muzairkhattak/PromptSRC ``trainers/promptsrc.py``
(``VLPromptLearner``, ``CustomCLIP.forward``, ``PromptSRC.forward_backward``, ``build_model``, ``get_gauss``),
``trainers/imagenet_templates.py``, ``train.py`` (``extend_cfg``) and
``configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml`` (base-to-novel: 4 + 4 tokens, depth 9 in
both towers, "a photo of a", SGD lr 0.0025, batch 4, 20 epochs, one constant warm-up epoch at 1e-5, cosine,
fp16, weights 25 and 10, GPA mean 15 and std 1); its ``..._cross_datasets.yaml`` (depth 3, GPA 6 / 10) and
``vit_b16_c2_ep50_batch4_4+4ctx_few_shot.yaml`` (50 epochs, GPA 30 / 30) are other settings of the same keys.

Where this differs: the frozen text features come from vlcat's frozen text encoder (the same tower, the
truncated path, exact); the zero-shot image features are computed in the tower's own dtype, as the prompted
ones are (the authors keep a second fp16 copy of the image tower). The image tower
runs with the prompts every step, so the learner takes pixels; the LLM catalyst refuses it in one line
(:mod:`vlcat.learners.deep`). ``train.select_best_val=true`` scores the aggregate as the last epoch's state
and may pick an earlier, unaggregated epoch instead (the authors always evaluate the aggregate).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import LossOutput, TaskSpec
from vlcat.learners.coop import context_kwargs
from vlcat.learners.gpa import PromptAggregate, gaussian_weights
from vlcat.learners.ivlp import IVLP
from vlcat.learners.options import PromptSRCOptions
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features
from vlcat.precision import image_input

#: The authors' template ensemble for the frozen text features (``trainers/imagenet_templates.py``
#: ``IMAGENET_TEMPLATES``: 60 of CLIP's ImageNet prompts), used for every dataset.
PROMPTSRC_TEMPLATES = (
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.", "a bright photo of a {}.", "a photo of a clean {}.",
    "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.",
    "the plastic {}.", "a photo of the cool {}.", "a close-up photo of a {}.",
    "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.", "a origami {}.",
    "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.", "a photo of the clean {}.",
    "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.", "a photo of a weird {}.",
    "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.", "a embroidered {}.",
    "a pixelated photo of a {}.", "itap of the {}.",
)

GPA_KEY = "gpa_sum."
"""Prefix of the running GPA sums in :meth:`PromptSRC.trainable_state` (one per trained tensor)."""


@register_learner("promptsrc", options=PromptSRCOptions)
class PromptSRC(IVLP):
    """IVLP's prompts with PromptSRC's self-regularisation and prompt aggregation; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> PromptSRC:
        o = cfg.promptsrc
        templates = list(PROMPTSRC_TEMPLATES) if o.templates == "paper" else list(task.templates or [task.template])
        return cls(clip, task.classnames, n_ctx_vision=o.n_ctx_vision, text_depth=o.text_depth,
                   vision_depth=o.vision_depth, text_weight=o.text_weight, image_weight=o.image_weight,
                   gpa_mean=o.gpa_mean, gpa_std=o.gpa_std, templates=templates, **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        o = cfg.promptsrc
        for key in ("text_weight", "image_weight"):
            if getattr(o, key) < 0:
                raise ConfigError(f"learner.promptsrc.{key} must be >= 0, got {getattr(o, key)}")
        if o.gpa_std <= 0:
            raise ConfigError(f"learner.promptsrc.gpa_std must be > 0, got {o.gpa_std}")
        if o.templates not in ("paper", "card"):
            raise ConfigError(f"learner.promptsrc.templates={o.templates!r} is not one of: paper, card")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 4, n_ctx_vision: int = 4,
                 text_depth: int = 9, vision_depth: int = 9, text_weight: float = 25.0, image_weight: float = 10.0,
                 gpa_mean: float = 15.0, gpa_std: float = 1.0, templates: list[str] | None = None,
                 **kwargs: Any) -> None:
        """Defaults are the authors' released base-to-novel setting (configs/learners/promptsrc.yaml)."""
        if gpa_std <= 0:
            raise ConfigError(f"learner.promptsrc.gpa_std must be > 0, got {gpa_std}")
        super().__init__(clip, classnames, n_ctx=n_ctx, n_ctx_vision=n_ctx_vision, text_depth=text_depth,
                         vision_depth=vision_depth, **kwargs)
        self.text_weight, self.image_weight = float(text_weight), float(image_weight)
        self.gpa_mean, self.gpa_std = float(gpa_mean), float(gpa_std)
        self.templates = list(templates or PROMPTSRC_TEMPLATES)
        self._zs_text: torch.Tensor | None = None  # computed at the first step: evaluation never needs it
        self.gpa = PromptAggregate(self._prompts())

    # ----- the frozen model's side --------------------------------------------------------------
    def _prompts(self) -> dict[str, torch.Tensor]:
        return {k: p for k, p in self.named_parameters() if p.requires_grad}

    def zero_shot_text(self) -> torch.Tensor:
        """``~g_zs`` ``[C, E]`` (float32): the mean over the templates of frozen CLIP's unnormalised class
        features, then L2-normalised, as the authors' ``fixed_embeddings``. Computed once, on first use."""
        if self._zs_text is None or self._zs_text.device != self.logit_scale.device:
            feats = torch.stack([template_features(self, t, normalize=False) for t in self.templates]).mean(0)
            self._zs_text = F.normalize(feats, dim=-1)
        return self._zs_text

    @torch.no_grad()
    def zero_shot_image(self, images: torch.Tensor) -> torch.Tensor:
        """``~f_zs(x)`` ``[B, E]`` (float32): frozen CLIP's normalised features of the same images."""
        return F.normalize(self.clip.model.encode_image(image_input(self.clip, images)).float(), dim=-1)

    # ----- the loss -------------------------------------------------------------------------------
    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        text = self.class_features()
        image = self.image_features(inputs)
        logits = self.cosine_logits(image, text)
        ce = F.cross_entropy(logits.float(), labels)
        zs_text = self.zero_shot_text()
        zs_image = self.zero_shot_image(inputs)
        zs_logits = self.cosine_logits(zs_image, zs_text).float()
        l_text = F.l1_loss(F.normalize(text.float(), dim=-1), zs_text)
        l_image = F.l1_loss(F.normalize(image.float(), dim=-1), zs_image)
        l_logits = F.kl_div(F.log_softmax(logits.float(), dim=-1), F.log_softmax(zs_logits, dim=-1),
                            reduction="sum", log_target=True) / logits.numel()
        loss = ce + l_logits + self.text_weight * l_text + self.image_weight * l_image
        return LossOutput(loss, logits, {"ce": ce.detach(), "scl_text": l_text.detach(),
                                         "scl_image": l_image.detach(), "scl_logits": l_logits.detach()})

    # ----- Gaussian prompt aggregation ----------------------------------------------------------
    def end_epoch(self, epoch: int, max_epoch: int) -> None:
        """Add this epoch's prompts with their Gaussian weight; after the last epoch, load the aggregate."""
        prompts = self._prompts()
        self.gpa.add(prompts, gaussian_weights(max_epoch, self.gpa_mean, self.gpa_std)[epoch - 1])
        if epoch == max_epoch:
            self.gpa.copy_into(prompts)

    # ----- checkpoints: the prompts and the running sum -----------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        state = super().trainable_state()
        state.update({GPA_KEY + k: v for k, v in self.gpa.state().items()})
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        super()._load_state({k: v for k, v in state.items() if not k.startswith(GPA_KEY)})
        self.gpa.load({k[len(GPA_KEY):]: v for k, v in state.items() if k.startswith(GPA_KEY)})
