"""The small interface every prompt learner shares: context vectors in, class logits out.

The trainer and the catalyst only talk to this interface, so a new learner (CoCoOp, KgCoOp, ...) plugs
into training, evaluation, checkpoints and LLM stages without touching them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.text_encoder import TextEncoder


class PromptLearner(nn.Module):
    """Base class: holds the frozen CLIP (outside the module tree) and turns features into logits."""

    #: whether class weights depend only on the learner (not on the image), so they can be computed
    #: once per step for the whole batch and image features can be cached.
    text_only: bool = True

    def __init__(self, clip: ClipBundle, classnames: list[str]) -> None:
        super().__init__()
        self._clip = [clip]  # not a submodule: checkpoints must hold trainable state only
        self.classnames = list(classnames)
        self.encoder = TextEncoder(clip.model)
        model = clip.model
        self.register_buffer("logit_scale", model.logit_scale.detach().exp().clone(), persistent=False)
        bias = getattr(model, "logit_bias", None)
        self.register_buffer("logit_bias", None if bias is None else bias.detach().clone(), persistent=False)

    @property
    def clip(self) -> ClipBundle:
        return self._clip[0]

    def class_features(self) -> torch.Tensor:
        """Unnormalised text features, one row per class."""
        raise NotImplementedError

    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        """Cosine similarity times CLIP's logit scale, as CLIP and CoOp score classes."""
        text = class_features if class_features is not None else self.class_features()
        img = F.normalize(image_features.float(), dim=-1)
        text = F.normalize(text.float(), dim=-1)
        out = self.logit_scale * img @ text.t()
        if self.logit_bias is not None:
            out = out + self.logit_bias
        return out

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.logits(image_features)

    def prompt_text(self) -> str:
        """Human-readable form of the current prompt (decoded context for learned prompts)."""
        raise NotImplementedError

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.named_parameters() if v.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v)


def tokenize(clip: ClipBundle, texts: list[str]) -> torch.Tensor:
    """Token ids ``[N, context_length]`` on the model's device."""
    return clip.tokenizer(texts).to(clip.device)
