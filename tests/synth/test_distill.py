"""The ViT toy CLIP: distilled under the teacher's text tower, which it keeps byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vlcat.cli.toy_pretrain import main as pretrain_main
from vlcat.synth.distill import DistillConfig, distill, student_config
from vlcat.synth.pretrain import save_json, save_weights
from vlcat.synth.toy_model import ASSETS_DIR, build_clip, default_config

TINY_VIT = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 32}


def _tiny_teacher(folder: Path) -> Path:
    """A random tiny ResNet-tower CLIP written as the three asset files (its quality does not matter here)."""
    cfg = default_config()
    cfg["embed_dim"] = 16
    cfg["vision_cfg"].update(image_size=32, width=8, head_width=8)
    cfg["text_cfg"].update(width=32, heads=1, layers=1)
    cfg["preprocess_cfg"]["size"] = 32
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_weights(build_clip(cfg).eval(), folder / "toy_clip.safetensors")
    save_json(cfg, folder / "toy_clip.json")
    return folder


def test_student_keeps_the_teacher_text_tower_and_names_it(tmp_path: Path) -> None:
    teacher = _tiny_teacher(tmp_path / "teacher")
    cfg = DistillConfig(teacher=teacher, vision=dict(TINY_VIT), steps=2, batch_size=8, warmup_steps=1, workers=0,
                        eval_every=1, threads=1, out_dir=tmp_path / "vit", data_root=tmp_path / "data",
                        in_style_per_class=1)
    record = distill(cfg, progress=False)
    out = tmp_path / "vit"
    assert sorted(p.name for p in out.iterdir()) == ["toy_clip.json", "toy_clip.safetensors", "toy_clip_record.json"]
    t = load_file(str(teacher / "toy_clip.safetensors"))
    s = load_file(str(out / "toy_clip.safetensors"))
    text_keys = [k for k in t if not k.startswith("visual.")]
    assert text_keys and all(torch.equal(t[k], s[k]) for k in text_keys)
    assert any(k.startswith("visual.transformer.") for k in s)  # a ViT tower, not the teacher's ResNet
    sha = hashlib.sha256((teacher / "toy_clip.safetensors").read_bytes()).hexdigest()
    assert record["teacher"]["weights_sha256"] == sha
    assert record["steps_done"] == 2 and len(record["val_zero_shot_curve"]) == 2
    assert json.loads((out / "toy_clip.json").read_text())["vision_cfg"] == TINY_VIT


def test_student_must_be_a_vit_of_the_teacher_size() -> None:
    teacher = default_config()
    with pytest.raises(ValueError, match="describe a ViT"):
        student_config(teacher, dict(teacher["vision_cfg"]))
    with pytest.raises(ValueError, match="image_size 32 differs"):
        student_config(teacher, dict(TINY_VIT))


def test_cli_refuses_bad_distillation_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert pretrain_main(["--distill-from", str(tmp_path / "nowhere")]) == 2
    assert "has no toy_clip.safetensors" in capsys.readouterr().err
    teacher = _tiny_teacher(tmp_path / "teacher")
    assert pretrain_main(["--distill-from", str(teacher), "--vision", "{layers: 6"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --vision is not JSON")
    assert pretrain_main(["--distill-from", str(teacher), "--vision", json.dumps({**TINY_VIT, "layers": [1, 1]}),
                          "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "describe a ViT" in err[0]
    assert not (tmp_path / "out" / "toy_clip.safetensors").exists()


def test_committed_vit_toy_shares_the_committed_text_tower() -> None:
    """Retraining vlcat-toy without re-distilling vlcat-toy-vit would split the world in two: this fails then."""
    vit_dir = ASSETS_DIR / "vit"
    base = load_file(str(ASSETS_DIR / "toy_clip.safetensors"))
    vit = load_file(str(vit_dir / "toy_clip.safetensors"))
    assert all(torch.equal(base[k], vit[k]) for k in base if not k.startswith("visual."))
    record = json.loads((vit_dir / "toy_clip_record.json").read_text())
    sha = hashlib.sha256((ASSETS_DIR / "toy_clip.safetensors").read_bytes()).hexdigest()
    assert record["teacher"]["weights_sha256"] == sha


def test_vlcat_toy_vit_loads_as_a_builtin_with_a_vit_tower_and_the_same_text_features() -> None:
    from open_clip.transformer import VisionTransformer

    from vlcat.clip import load_clip

    vit, toy = load_clip("vlcat-toy-vit"), load_clip("vlcat-toy")
    assert isinstance(vit.model.visual, VisionTransformer)
    tokens = toy.tokenizer(["a photo of a red circle.", "a line drawing of a blue star."])
    with torch.no_grad():
        assert torch.equal(vit.model.encode_text(tokens), toy.model.encode_text(tokens))
    assert vit.model_id != toy.model_id  # different weights, different feature-cache keys
