"""The interface every prompt learner implements; the trainer, evaluation and the catalyst call only this.

A learner declares, as class attributes:

* ``inputs``: ``"features"`` (the frozen image tower's features, which the trainer caches per
  augmentation view) or ``"pixels"`` (the learner changes the image side, so it gets preprocessed images
  every step and runs the image tower itself);
* ``trained_by``: ``"gradient"`` (the SGD loop of :mod:`vlcat.train.trainer`), ``"fit"`` (fitted once on
  the training features by :meth:`PromptLearner.fit`, e.g. a linear probe) or ``"none"`` (zero-shot);
* ``has_context``: whether it implements the context protocol of :mod:`vlcat.learners.context` (what
  the LLM catalyst needs);
* ``scores_new_classes``: whether its trained state can score classes it never saw (false for a linear
  probe, whose weights exist per training class), so sweeps skip novel-class evaluations it cannot do;
* ``catalyst_refusal``: why the LLM catalyst cannot serve it, when the reason is its own (deep and vision
  prompts that no text restarts); empty when the catalyst's general checks decide.

It owns its loss (:meth:`PromptLearner.training_loss`, cross-entropy by default) and its backward pass
(:meth:`PromptLearner.backward`, where ProGrad projects gradients), and says how it is evaluated
(:meth:`PromptLearner.predict`) and whether its trained state applies to classes it was not trained on
(:meth:`PromptLearner.new_classes_error`, :meth:`PromptLearner.state_for_classes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from vlcat.clip import ClipBundle
from vlcat.errors import VlcatError
from vlcat.text_encoder import TextEncoder


class LearnerStateError(VlcatError):
    """A saved learner state does not fit the learner it is loaded into (other classes, other shapes)."""


@dataclass
class TaskSpec:
    """What a learner is built for: the class names and the dataset card's hand-written prompts."""

    classnames: list[str]
    template: str = "a photo of a {}."
    """The card's single hand-written template (CoOp's per-dataset template)."""
    templates: list[str] = field(default_factory=list)
    """The card's template ensemble (falls back to ``[template]``)."""
    dataset: str = ""
    """Card name (records and messages)."""
    method_templates: dict[str, str] = field(default_factory=dict)
    """The card's per-method prompts (``method_templates``: KgCoOp's and ProGrad's own, by learner name)."""


@dataclass
class LossOutput:
    """What :meth:`PromptLearner.training_loss` returns: the loss to minimise, the logits (for the running
    accuracy) and the named terms it is made of (logged, and used by learners with their own backward)."""

    loss: torch.Tensor
    logits: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


class PromptLearner(nn.Module):
    """Base class: holds the frozen CLIP (outside the module tree) and turns features into logits."""

    name: ClassVar[str] = ""
    """Set by :func:`vlcat.learners.registry.register_learner`."""
    inputs: ClassVar[str] = "features"
    trained_by: ClassVar[str] = "gradient"
    has_context: ClassVar[bool] = False
    scores_new_classes: ClassVar[bool] = True
    export_refusal: ClassVar[str] = ""
    """Why the learner has no fixed cosine classifier to export (``vlcat-export-classifier``), when the
    generic reasons (no class weights, per-image weights) do not say it; e.g. an adapter on the image side."""
    catalyst_refusal: ClassVar[str] = ""
    """Why ``catalyst.enabled=true`` is refused for this learner, one clause (see the module docstring)."""
    follows_clip_dtype: ClassVar[bool] = True
    """Under ``model.precision=fp16`` its parameters and buffers are cast to half with CLIP, as the authors'
    prompt learners are (:func:`vlcat.precision.cast_learner`); false for a learner with weights of its own
    kind (the linear probe), which stays float32."""

    def __init__(self, clip: ClipBundle, classnames: list[str]) -> None:
        super().__init__()
        self._clip = [clip]  # not a submodule: checkpoints must hold trainable state only
        self.classnames = list(classnames)
        self.encoder = TextEncoder(clip.model)
        model = clip.model
        self.register_buffer("logit_scale", model.logit_scale.detach().exp().clone(), persistent=False)
        bias = getattr(model, "logit_bias", None)
        self.register_buffer("logit_bias", None if bias is None else bias.detach().clone(), persistent=False)

    # ----- building from the config --------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> PromptLearner:
        """Build from the ``learner`` config node (shared keys plus ``cfg.<name>``)."""
        raise NotImplementedError

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """Learner-specific checks of the ``learner`` node, before any work; raise ConfigError in one line."""

    @property
    def clip(self) -> ClipBundle:
        return self._clip[0]

    # ----- scoring -------------------------------------------------------------------------------
    def class_features(self) -> torch.Tensor:
        """Unnormalised text features, one row per class (for learners whose weights ignore the image)."""
        raise NotImplementedError

    def logits(self, image_features: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        """Cosine similarity times CLIP's logit scale, as CLIP and CoOp score classes."""
        text = class_features if class_features is not None else self.class_features()
        return self.cosine_logits(image_features, text)

    def cosine_logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """``scale * <img/|img|, txt/|txt|>``; text ``[C, E]`` (shared) or ``[N, C, E]`` (one set per image).

        Computed in the learner's dtype (that of ``logit_scale``): float32, or half under fp16 as the
        authors' logits are; features that arrive as float32 holding half values lose nothing by the cast.
        """
        dtype = self.logit_scale.dtype
        img = F.normalize(image_features.to(dtype), dim=-1)
        text = F.normalize(text_features.to(dtype), dim=-1)
        if text.dim() == 3:
            out = self.logit_scale * torch.einsum("ne,nce->nc", img, text)
        else:
            out = self.logit_scale * img @ text.t()
        if self.logit_bias is not None:
            out = out + self.logit_bias
        return out

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.logits(inputs)

    # ----- training ------------------------------------------------------------------------------
    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        """The loss of one batch (``inputs`` as declared by ``inputs``); cross-entropy by default."""
        logits = self.logits(inputs)
        return LossOutput(F.cross_entropy(logits.float(), labels), logits)

    def backward(self, out: LossOutput) -> None:
        """Fill ``.grad`` of the trainable parameters from ``out`` (plain backprop by default)."""
        out.loss.backward()

    def fit(self, features: torch.Tensor, labels: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None
            ) -> dict[str, Any]:
        """Learners with ``trained_by = "fit"``: fit once on (un-augmented) training features; returns a summary."""
        raise NotImplementedError(f"learner '{self.name}' is trained by gradient steps, not by fit()")

    def training_views(self) -> int:
        """How many augmented views of every training image the learner reads before it trains (0: none).

        A learner built from a cache of the training images (Tip-Adapter's keys) says how many views it
        averages; the run then calls :meth:`start_training` with them once, before :meth:`fit` or the first
        gradient step of a fresh run (a resumed run has that state in its checkpoint). The views are the
        trainer's augmented crops of epochs ``0 .. n-1`` (``clip.train_transform``, the run's seed), read from
        the feature cache, so a cache and the first epochs of training share their encodings.
        """
        return 0

    def start_training(self, views: torch.Tensor, labels: torch.Tensor) -> None:
        """Learners with :meth:`training_views`: the unnormalised image features ``[views, N, E]`` of the
        ``N`` training images and their labels ``[N]``, before any training."""
        raise NotImplementedError(f"learner '{self.name}' reads no augmented views before training")

    def end_epoch(self, epoch: int, max_epoch: int) -> None:
        """Called by the gradient loop right after the last step of every epoch (``epoch`` 1-based, of
        ``max_epoch``), before the epoch-end callbacks and the epoch's checkpoint; the default does nothing.

        For learners whose state follows the epochs (PromptSRC's Gaussian prompt aggregation). Whatever it
        changes must be part of :meth:`trainable_state`: a run resumed from a checkpoint (written after this
        hook at an epoch end, or mid-epoch) then ends with exactly the numbers of an uninterrupted one.
        """

    def finish_training(self, val: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, Any]:
        """Called once after the last gradient step with the un-augmented validation features and labels
        (None: the dataset has no validation split). A learner that chooses hyperparameters on validation
        after training (Tip-Adapter-F's alpha and beta) does it here and returns a summary for the record
        (the trainer then rewrites the final checkpoint); the default does nothing and returns ``{}``."""
        return {}

    # ----- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Logits for a whole split (features or pixels, as declared); class weights computed once when they
        do not depend on the image."""
        if len(inputs) == 0:
            return torch.empty(0, len(self.classnames))
        device = self.logit_scale.device
        try:
            class_feats = self.class_features()
        except NotImplementedError:
            class_feats = None
        out = []
        for i in range(0, len(inputs), batch_size):
            x = inputs[i:i + batch_size].to(device)
            out.append((self.logits(x, class_feats) if class_feats is not None else self.logits(x)).cpu())
        return torch.cat(out)

    def new_classes_error(self) -> str | None:
        """Why this learner's trained state cannot score classes it was not trained on (None: it can)."""
        return None

    def state_for_classes(self, state: dict[str, torch.Tensor], trained: list[str]) -> dict[str, torch.Tensor]:
        """``state``, saved by a learner of the classes ``trained``, made to fit this learner's classes.

        Evaluation on another class list (novel classes, another dataset) calls this before loading. A
        state that does not depend on the classes passes as it is; a learner with per-class state refuses
        (:meth:`new_classes_error`) unless it overrides this to pick its classes' rows by name.
        """
        why = self.new_classes_error()
        if why and list(trained) != list(self.classnames):
            raise LearnerStateError(why)
        return state

    def trained_class_index(self, trained: list[str], built: str, what: str) -> torch.Tensor:
        """Where each of this learner's classes sits in the ``trained`` class list, by name: what a learner with
        per-class state (a probe's rows, a cache's columns) picks when evaluated on another class list, whose
        labels need not be the training labels (the novel half is relabelled from 0).

        A class it never saw is refused with :meth:`new_classes_error`; a name trained twice is refused too,
        since its state is ambiguous (``built``: "was trained", ``what``: "weights", for the message).
        """
        seen: dict[str, list[int]] = {}
        for i, name in enumerate(trained):
            seen.setdefault(name, []).append(i)
        unseen = [c for c in self.classnames if c not in seen]
        if unseen:
            raise LearnerStateError(f"{self.new_classes_error()}; unseen: {len(unseen)}, e.g. {unseen[0]!r}")
        twice = [c for c in self.classnames if len(seen[c]) > 1]
        if twice:
            raise LearnerStateError(f"{built} with two classes named {twice[0]!r}; it cannot tell which {what} to "
                                    "use; evaluate it on its own class list")
        return torch.tensor([seen[c][0] for c in self.classnames], dtype=torch.long)

    def prompt_text(self) -> str:
        """Human-readable form of the current prompt (decoded context for learned prompts)."""
        raise NotImplementedError

    # ----- checkpoints ---------------------------------------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.named_parameters() if v.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy a saved state in; a state that does not fit (other classes, other options) is one line."""
        own = self.trainable_state()
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or extra or bad:
            why = self.new_classes_error() if bad else None
            detail = (f"missing {missing}" if missing else f"unexpected {extra}" if extra else
                      f"'{bad[0]}' has shape {tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}")
            raise LearnerStateError(why or f"the saved state does not fit learner '{self.name}': {detail}")
        self._load_state(state)

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v)


def tokenize(clip: ClipBundle, texts: Sequence[str]) -> torch.Tensor:
    """Token ids ``[N, context_length]`` on the model's device."""
    return clip.tokenizer(list(texts)).to(clip.device)
