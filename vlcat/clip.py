"""Load a frozen open_clip model with its tokenizer and the transforms CoOp's protocol uses.

Every model goes through one path, whether it is an open_clip name with a ``pretrained`` tag, a local
checkpoint, a model config given as data, or the embedded toy CLIP (``vlcat-toy``), so that what the
tests exercise offline is what a user runs with downloaded weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.factory import load_state_dict as _open_clip_load_state_dict
from torch import nn
from torchvision import transforms as T

from vlcat.errors import ModelError
from vlcat.offline import tokenizer_unreachable, weights_unreachable

ASSETS = Path(__file__).resolve().parent / "synth" / "assets"
BUILTIN_MODELS: dict[str, tuple[Path, Path]] = {
    "vlcat-toy": (ASSETS / "toy_clip.json", ASSETS / "toy_clip.safetensors"),
    # the same text tower with a ViT image tower distilled from the ResNet one (vlcat.synth.distill): the
    # offline model for the vision-prompt learners (VPT-deep, IVLP, MaPLe, PromptSRC)
    "vlcat-toy-vit": (ASSETS / "vit" / "toy_clip.json", ASSETS / "vit" / "toy_clip.safetensors"),
}

_INTERP = {
    "bicubic": T.InterpolationMode.BICUBIC,
    "bilinear": T.InterpolationMode.BILINEAR,
    "nearest": T.InterpolationMode.NEAREST,
}


@dataclass
class ClipBundle:
    """A frozen CLIP plus what prompt learners and data loaders need next to it."""

    model: nn.Module
    tokenizer: Any
    train_transform: T.Compose
    test_transform: T.Compose
    model_id: str
    """Stable identity of the weights (name, tag, file fingerprint): part of every feature-cache key."""
    preprocess: dict[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    """The named precision it runs at (fp32 | amp_bf16 | fp16), set by :func:`vlcat.precision.apply_precision`."""

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def context_length(self) -> int:
        return tower_context_length(self.model)


def text_tower(model: nn.Module) -> nn.Module:
    """Return the module holding the text transformer's parts.

    open_clip's ``CLIP`` keeps them on the model itself, ``CustomTextCLIP`` on ``model.text``.
    """
    return model.text if hasattr(model, "text") else model


def tower_context_length(model: nn.Module) -> int:
    """Token positions of a prompt: the positional table's rows, less CoCa's appended class embedding."""
    tower = text_tower(model)
    return int(tower.positional_embedding.shape[0]) - (getattr(tower, "cls_emb", None) is not None)


SUPPORTED_TEXT_TOWERS = ("open_clip's built-in text transformers (CLIP, SigLIP/SigLIP2, CoCa, CLIPA, "
                         "EVA, MobileCLIP, PE-Core, ViTamin, the worldwide towers)")


def check_text_tower(model: nn.Module, name: str) -> None:
    """Fail early, with the supported kinds named, when the text tower can't take prompt embeddings."""
    tower = text_tower(model)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    missing = [n for n in needed if not hasattr(tower, n)]
    if missing or not isinstance(getattr(tower, "token_embedding", None), nn.Embedding):
        raise ModelError(
            f"model '{name}' has a {type(tower).__name__} text tower, which prompt learners cannot drive; "
            f"supported: {SUPPORTED_TEXT_TOWERS}"
        )
    pool = getattr(tower, "text_pool_type", getattr(tower, "pool_type", "argmax"))
    if pool not in ("argmax", "eos", "first", "last") and getattr(tower, "cls_emb", None) is None:
        raise ModelError(f"model '{name}' has a text tower with pool_type='{pool}', which gives no single text "
                         f"feature per prompt; supported: {SUPPORTED_TEXT_TOWERS}")


def refuse_hf_text_tower(cfg: dict[str, Any] | None, name: str) -> None:
    """Refuse a Hugging Face text tower from its config alone, before anything is built or downloaded."""
    hf_model = ((cfg or {}).get("text_cfg") or {}).get("hf_model_name")
    if hf_model:
        raise ModelError(f"model '{name}' has a Hugging Face text tower ({hf_model}), whose input embeddings vlcat "
                         f"does not drive; supported: {SUPPORTED_TEXT_TOWERS}, e.g. ViT-B-16 or ViT-B-16-SigLIP")


def _file_fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def _weights_digest(model: nn.Module) -> str:
    """Hash of the actual weights, for randomly initialised models whose name says nothing about them."""
    h = hashlib.blake2b(digest_size=12)
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _read_model_config(model_config: dict[str, Any] | str | os.PathLike) -> dict[str, Any]:
    if isinstance(model_config, dict):
        return json.loads(json.dumps(model_config))
    path = Path(model_config)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"model config file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model config {path}: {exc}") from None


def _build_from_config(cfg: dict[str, Any], name: str) -> tuple[nn.Module, dict[str, Any]]:
    cfg = dict(cfg)
    preprocess = dict(cfg.pop("preprocess_cfg", {}) or {})
    custom = cfg.pop("custom_text", False)
    try:
        cls = open_clip.CoCa if "multimodal_cfg" in cfg else open_clip.CustomTextCLIP if custom else open_clip.CLIP
        model = cls(**cfg)
    except TypeError as exc:
        raise ModelError(f"invalid open_clip model config for '{name}': {exc}") from None
    return model, preprocess


def _load_weights(model: nn.Module, checkpoint: Path) -> None:
    if not checkpoint.is_file():
        raise ModelError(f"checkpoint not found: {checkpoint} (give an existing .pt/.bin/.safetensors file)")
    try:
        state = _open_clip_load_state_dict(str(checkpoint), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means an unreadable file
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(f"cannot read checkpoint {checkpoint}: {type(exc).__name__}: {first}") from None
    if not isinstance(state, dict) or "learner" in state or not all(torch.is_tensor(v) for v in state.values()):
        raise ModelError(f"{checkpoint} is not a CLIP weights file (it looks like a vlcat run checkpoint, which "
                         "holds only the learned prompt); to evaluate a run use `vlcat-eval <run folder>`")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ModelError(f"checkpoint {checkpoint} does not match the model: {detail}") from None


def coop_train_transform(size: int, mean: tuple[float, ...], std: tuple[float, ...],
                         interpolation: str = "bicubic", scale_min: float = 0.08) -> T.Compose:
    """CoOp's training augmentation: random resized crop (scale 0.08-1) and horizontal flip.

    ``scale_min`` is a knob for images whose object is small (CoOp's 8 % crops can miss it entirely).
    """
    return T.Compose([
        T.RandomResizedCrop(size, scale=(scale_min, 1.0), interpolation=_INTERP[interpolation]),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def eval_transform(size: int, mean: tuple[float, ...], std: tuple[float, ...],
                   interpolation: str = "bicubic") -> T.Compose:
    """Resize the shorter side and center-crop, as CLIP and CoOp evaluate."""
    return T.Compose([
        T.Resize(size, interpolation=_INTERP[interpolation]),
        T.CenterCrop(size),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, cut at a word boundary (never mid-word)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tokenizer_for(name: str, cfg: dict[str, Any] | None, registered: bool, tokenizer: Any) -> Any:
    """The model's tokenizer, built before the model so that a missing package or vocabulary fails in one line.

    ``tokenizer``: an object used as is, or a local folder holding a Hugging Face tokenizer (for models whose
    tokenizer comes from the Hub, on an offline machine).
    """
    text_cfg = (cfg or {}).get("text_cfg") or {}
    context_length = int(text_cfg.get("context_length") or 77)
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    hf_name = text_cfg.get("hf_tokenizer_name")
    source = str(tokenizer) if tokenizer is not None else hf_name
    try:
        if tokenizer is not None and not Path(tokenizer).is_dir():
            raise ModelError(f"model.tokenizer={tokenizer} is not a folder (give a saved Hugging Face tokenizer)")
        if source:  # what open_clip.get_tokenizer builds for hf_tokenizer_name, from the Hub or a folder
            import transformers  # noqa: F401 - a missing package is named before any Hub access
            why = tokenizer_unreachable(source)
            if why:
                raise ModelError(f"model '{name}': {why}")
            return open_clip.tokenizer.HFTokenizer(
                source, context_length=context_length, tokenizer_mode=text_cfg.get("tokenizer_mode"),
                **(text_cfg.get("tokenizer_kwargs") or {}))
        if not registered:
            return open_clip.SimpleTokenizer(context_length=context_length)
        return open_clip.get_tokenizer(name, context_length=context_length)
    except ModelError:
        raise
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "transformers"
        raise ModelError(f"model '{name}' needs the Hugging Face tokenizer '{source}', and its package '{missing}' "
                         "is not installed: pip install transformers sentencepiece") from None
    except Exception as exc:  # noqa: BLE001 - Hub/vocabulary failures become one line
        raise ModelError(f"cannot load the tokenizer '{source}' of model '{name}': {_first_line(exc)}; on an "
                         "offline machine give a local tokenizer folder via model.tokenizer") from None


def load_clip(
    model: str | None,
    pretrained: str | None = None,
    *,
    model_config: dict[str, Any] | str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    tokenizer: Any = None,
) -> ClipBundle:
    """Build a frozen CLIP in eval mode with its tokenizer and CoOp-style transforms.

    ``model`` is an open_clip model name (``ViT-B-16``), a builtin alias (``vlcat-toy``), or any label
    when ``model_config`` gives the architecture as data. ``pretrained`` is an open_clip tag (downloads on
    a machine with internet); ``checkpoint`` a local weights file, which wins over the tag. ``tokenizer``
    replaces the model's tokenizer: a local Hugging Face tokenizer folder (offline SigLIP, CLIPA, worldwide
    models) or a tokenizer object. Everything that can be refused (unknown name, a text tower vlcat cannot
    prompt, a missing tokenizer package, weights that are neither cached nor reachable) is refused in one
    line before the model is built.
    """
    if not model:
        raise ModelError("no model given: set model.name (e.g. 'vlcat-toy' or 'ViT-B-16')")
    device = torch.device(device)
    cfg: dict[str, Any] | None = None
    if model in BUILTIN_MODELS and model_config is None:
        cfg_path, ckpt_path = BUILTIN_MODELS[model]
        if not cfg_path.is_file() or not ckpt_path.is_file():
            raise ModelError(f"builtin model '{model}' is missing its files under {ASSETS}; reinstall vlcat")
        model_config = cfg_path
        checkpoint = checkpoint or ckpt_path

    if model_config is not None:
        raw = _read_model_config(model_config)
        cfg = raw.get("model_cfg", raw)
        refuse_hf_text_tower(cfg, model)
        tok = _tokenizer_for(model, cfg, False, tokenizer)
        clip_model, preprocess = _build_from_config(cfg, model)
        ident = "config:" + hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]
    else:
        if model not in open_clip.list_models():
            known = ", ".join(m for m in open_clip.list_models() if m.startswith(("ViT-B", "RN50")))
            raise ModelError(f"unknown model '{model}'; use an open_clip name (e.g. {known}, ...) or a builtin "
                             f"({', '.join(BUILTIN_MODELS)})")
        registered_cfg = open_clip.get_model_config(model)
        refuse_hf_text_tower(registered_cfg, model)
        tok = _tokenizer_for(model, registered_cfg, True, tokenizer)
        tag = None if checkpoint else pretrained
        if tag:
            why = weights_unreachable(model, tag)
            if why:
                raise ModelError(why)
        try:
            clip_model = open_clip.create_model(model, pretrained=tag, device="cpu")
        except Exception as exc:  # noqa: BLE001 - download/tag errors become one line
            raise ModelError(
                f"cannot create '{model}' with pretrained='{tag}': {_first_line(exc)}; "
                "on an offline machine pass a local file via model.checkpoint"
            ) from None
        preprocess = dict(getattr(clip_model.visual, "preprocess_cfg", {}) or {})
        ident = f"open_clip:{model}:{tag or 'random'}"

    check_text_tower(clip_model, model)
    if checkpoint is not None:
        ckpt = Path(checkpoint)
        _load_weights(clip_model, ckpt)
        ident += f"|ckpt:{_file_fingerprint(ckpt)}"
    elif model_config is not None or ident.endswith(":random"):
        ident += f"|weights:{_weights_digest(clip_model)}"  # random init depends on the RNG, not the name

    clip_model.eval().requires_grad_(False).to(device)

    size = preprocess.get("size") or clip_model.visual.image_size
    size = size[0] if isinstance(size, (list, tuple)) else int(size)
    mean = tuple(preprocess.get("mean") or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(preprocess.get("std") or open_clip.OPENAI_DATASET_STD)
    interp = preprocess.get("interpolation") or "bicubic"
    preprocess = {"size": size, "mean": list(mean), "std": list(std), "interpolation": interp}
    ctx_len = tower_context_length(clip_model)
    if int(getattr(tok, "context_length", ctx_len) or ctx_len) != ctx_len:
        raise ModelError(f"the tokenizer of '{model}' writes {tok.context_length} tokens, the text tower takes "
                         f"{ctx_len}; give a tokenizer for this model")
    return ClipBundle(
        model=clip_model,
        tokenizer=tok,
        train_transform=coop_train_transform(size, mean, std, interp),
        test_transform=eval_transform(size, mean, std, interp),
        model_id=ident,
        preprocess=preprocess,
        device=device,
    )
