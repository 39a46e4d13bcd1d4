"""Named precision (``model.precision``): which tensors run in which dtype, decided in one place.

* ``fp32``: everything in float32 - CLIP's weights, image features, the prompt embeddings through the
  text tower, the trainable parameters, their gradients and the optimizer, the logits and the loss. Exact:
  ``tests/learners/test_equations.py`` checks it against the papers' equations to 1e-5. The default on CPU.
* ``amp_bf16``: autocast to bfloat16 *only where the frozen image tower runs* (encoding the cached or
  live image features, for training and evaluation); the weights stay float32 and the features are stored
  as float32. Everything on the text side stays float32 without autocast: the text tower over prompt
  embeddings that carry the learned context, the frozen template features (zero-shot weights, KgCoOp's
  hand-written features, ProGrad's teacher), the logits, the loss, the catalyst's scoring. The image tower
  over all images is the one large cost that runs without gradients; the text side either carries the
  learned context (where bf16's 8-bit mantissa would round the small differences training makes) or is
  computed once. Keeping frozen and learned text features on the same fp32 path also makes KgCoOp's term
  and ProGrad's KL measure how far the prompt moved, not bf16 rounding (both stay ~0 at the hand-written
  prompt). The default on CUDA (when the GPU computes bf16 natively): the image tower on bf16 tensor
  cores, results that differ from fp32 only by the rounding of the image features. Allowed on CPU when asked by name
  (CPU autocast to bf16 is real; it is how the tests check this path), never chosen by ``auto`` there.
  A learner that takes pixels (``inputs = "pixels"``) runs the image tower inside its own loss, which is
  the learned path: no autocast there either.
* ``fp16``: the authors' pure half (Dassl ``TRAINER.COOP.PREC: fp16``, their released configs): CLIP's
  weights are cast to float16, image features come out of the half image tower, prompt embeddings go
  through the half text tower, and the learner's parameters and buffers are half too (CoOp's context,
  CoCoOp's meta-net, the frozen template features), so SGD updates half tensors in place as the authors'
  optimizer does. Consequence: an update smaller than half the spacing of float16 at the parameter's
  value rounds away (a context entry of 0.02 does not move for ``lr * step`` below ~7.6e-6), which is
  part of what reproducing their numbers means. Two differences remain: the loss is computed in float32
  from the half logits (the gradient reaching the logits is rounded to half once, as in their half
  cross-entropy, which also accumulates in float32), and ProGrad's zero-shot teacher comes from the same
  half CLIP (the authors load a separate float32 CLIP for it). Learners that are not prompt learners (the linear
  probe, fitted by scikit-learn as CoOp's ``lpclip`` does) keep their own weights in float32. A run
  refuses ``fp16`` on a non-CUDA device in one line: CPU half kernels are slow and the setting exists to
  reproduce GPU runs; the functions here still work on CPU, which the tests use.
* ``auto``: ``amp_bf16`` on CUDA with native bf16, ``fp32`` elsewhere (CPU, MPS, older GPUs).

``bf16``, the name of the old whole-loss bf16 autocast, is read as ``amp_bf16``, so a run folder saved
with it still loads and resumes (its checkpoint holds float32 state either way); the remaining steps
follow the policy above.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch

from vlcat.errors import ConfigError
from vlcat.precision_names import ALIASES, CHOICES, NAMED, canonical  # noqa: F401 - the names' home; re-exported

if TYPE_CHECKING:
    from vlcat.clip import ClipBundle
    from vlcat.learners.base import PromptLearner


def _native_bf16() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch without the keyword
        return bool(torch.cuda.is_bf16_supported())


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``auto`` (or an alias) as the named precision it means on ``device``; see the module docstring."""
    device = torch.device(device)
    name = canonical(precision)
    if name == "auto":
        return "amp_bf16" if device.type == "cuda" and _native_bf16() else "fp32"
    if name == "amp_bf16" and device.type not in ("cuda", "cpu"):
        raise ConfigError(f"model.precision=amp_bf16 autocasts on cuda or cpu, not {device.type}; use fp32")
    return name


def check_run_device(precision: str, device: torch.device | str) -> None:
    """What a run refuses before any work: the authors' pure half anywhere but on CUDA."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "fp16" and device.type != "cuda":
        raise ConfigError(f"model.precision=fp16 (the authors' pure half) runs on CUDA only, the device is "
                          f"{device.type}; use model.precision=fp32 (exact) or amp_bf16")


def apply_precision(clip: ClipBundle, precision: str) -> str:
    """Resolve ``precision`` on the bundle's device, cast CLIP's weights for ``fp16``, record it on the bundle.

    Called once, right after loading and before any learner is built, so that every tensor the learner
    derives from CLIP (token embeddings, template features) already has the run's dtype.
    """
    name = resolve_precision(precision, clip.device)
    if name == "fp16":
        clip.model.half()
    elif clip.dtype == torch.float16:
        raise ValueError(f"CLIP's weights are already half; precision {name} needs a freshly loaded model")
    clip.precision = name
    return name


def cast_learner(learner: PromptLearner) -> PromptLearner:
    """Under ``fp16``, the learner's parameters and buffers in half, as the authors' prompt learners are."""
    if learner.clip.precision == "fp16" and learner.follows_clip_dtype:
        learner.half()
    return learner


def image_autocast(clip: ClipBundle) -> contextlib.AbstractContextManager:
    """The context the frozen image tower runs in: bf16 autocast under ``amp_bf16``, nothing otherwise."""
    if clip.precision == "amp_bf16":
        return torch.autocast(clip.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def image_input(clip: ClipBundle, images: torch.Tensor) -> torch.Tensor:
    """Preprocessed images on the model's device, in the dtype of its weights (half under ``fp16``)."""
    return images.to(clip.device, dtype=clip.dtype)
