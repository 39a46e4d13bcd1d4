"""The toy CLIP's architecture and its committed files.

The model is a plain open_clip ``CLIP`` described by a JSON model config, so that it loads through the same
code path as any local checkpoint (``vlcat.clip.load_clip``) and every downstream piece (text encoder,
nearest-token decoding) treats it like a real CLIP. Its text side uses open_clip's standard CLIP BPE
tokenizer and a causal text Transformer, so decoded prompts are made of real word tokens.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
CONFIG_PATH = ASSETS_DIR / "toy_clip.json"
WEIGHTS_PATH = ASSETS_DIR / "toy_clip.safetensors"
RECORD_PATH = ASSETS_DIR / "toy_clip_record.json"

# Text width 192 keeps the fp16 file under 30 MB (the 49408 x 192 token embedding alone is 19 MB) while
# leaving room for word embeddings to mean something. The image tower is open_clip's ModifiedResNet (the
# RN50 family) shrunk to one block per stage: measured here, a ViT with 8 px patches learns colours but
# barely any shapes in the minutes we can afford, while the CNN learns outlines within ~100 steps.
DEFAULT_CONFIG: dict[str, Any] = {
    "embed_dim": 128,
    "quick_gelu": False,
    "vision_cfg": {
        "image_size": 64,
        "layers": [1, 1, 1, 1],
        "width": 24,
        "head_width": 64,
    },
    "text_cfg": {
        "context_length": 32,
        "vocab_size": 49408,
        "width": 192,
        "heads": 3,
        "layers": 4,
        "mlp_ratio": 4.0,
    },
    "preprocess_cfg": {
        "size": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    },
}
"""The architecture; ``preprocess_cfg`` is replaced by statistics of the pretraining stream at training."""


def default_config() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_CONFIG)


def model_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The part of the config that ``open_clip.model.CLIP(**kwargs)`` accepts."""
    return {k: copy.deepcopy(v) for k, v in config.items() if k in ("embed_dim", "vision_cfg", "text_cfg",
                                                                    "quick_gelu")}


def build_clip(config: dict[str, Any]):  # -> open_clip.model.CLIP (import kept local: open_clip is slow)
    from open_clip.model import CLIP

    return CLIP(**model_kwargs(config))


def tokenizer(config: dict[str, Any]):  # -> open_clip.tokenizer.SimpleTokenizer
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=int(config["text_cfg"]["context_length"]))


def read_config(path: str | Path = CONFIG_PATH) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_toy_clip(config_path: str | Path = CONFIG_PATH, weights_path: str | Path = WEIGHTS_PATH):
    """(model in fp32 eval mode, config) from the committed files, with plain open_clip and safetensors."""
    from safetensors.torch import load_file

    config = read_config(config_path)
    model = build_clip(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights_path)).items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), config
