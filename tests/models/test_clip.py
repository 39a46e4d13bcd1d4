"""Model loading: configs as data, local checkpoints, and one-line errors for everything else."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from vlcat.clip import load_clip
from vlcat.errors import ModelError
from vlcat.testing import TINY_CFG


def test_frozen_eval_model_with_transforms(tiny_clip):
    assert not tiny_clip.model.training
    assert all(not p.requires_grad for p in tiny_clip.model.parameters())
    assert tiny_clip.context_length == 32
    x = tiny_clip.test_transform(__import__("PIL.Image", fromlist=["Image"]).new("RGB", (50, 40)))
    assert x.shape == (3, 32, 32)
    assert "RandomResizedCrop" in repr(tiny_clip.train_transform) and "scale=(0.08, 1.0)" in repr(
        tiny_clip.train_transform)


def test_checkpoint_roundtrip_safetensors_and_pt(tmp_path, tiny_clip):
    state = {k: v.clone() for k, v in tiny_clip.model.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(TINY_CFG))
    for name in ("w.safetensors", "w.pt"):
        other = load_clip("tiny", model_config=cfg_file, checkpoint=tmp_path / name)
        for k, v in other.model.state_dict().items():
            assert torch.equal(v, state[k]), k
        assert str(tmp_path / name) in other.model_id


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    cases = [
        (lambda: load_clip(""), "no model given"),
        (lambda: load_clip("ViT-Nope-99"), "unknown model"),
        (lambda: load_clip("tiny", model_config=TINY_CFG, checkpoint=tmp_path / "missing.pt"), "not found"),
        (lambda: load_clip("tiny", model_config=TINY_CFG, checkpoint=bad), "cannot read checkpoint"),
        (lambda: load_clip("tiny", model_config=tmp_path / "nope.json"), "not found"),
    ]
    for fn, text in cases:
        with pytest.raises(ModelError) as err:
            fn()
        assert text in str(err.value) and "\n" not in str(err.value)


def test_mismatched_checkpoint(tmp_path):
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="does not match"):
        load_clip("tiny", model_config=TINY_CFG, checkpoint=tmp_path / "other.pt")


def test_hf_text_tower_is_refused_with_supported_kinds():
    cfg = json.loads(json.dumps(TINY_CFG))
    cfg["text_cfg"] = {"hf_model_name": "roberta-base", "hf_tokenizer_name": "roberta-base"}
    with pytest.raises(ModelError, match="supported: open_clip's built-in"):
        load_clip("hf-text", model_config=cfg)


def test_open_clip_registry_model_builds_without_weights():
    """A registered architecture by name, random weights (pretrained tags need a download)."""
    bundle = load_clip("RN50", pretrained=None)
    assert bundle.model_id.startswith("open_clip:RN50:random|weights:")
    assert bundle.context_length == 77
