"""The pretraining pipeline end to end on a model and data small enough for a unit test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vlcat.synth.pretrain import PretrainConfig, _lr_at, pretrain
from vlcat.synth.toy_model import build_clip, default_config, load_toy_clip


def _tiny_config() -> dict:
    cfg = default_config()
    cfg["embed_dim"] = 16
    cfg["vision_cfg"].update(image_size=32, patch_size=8, width=32, layers=1, head_width=32)
    cfg["text_cfg"].update(width=32, heads=1, layers=1)
    return cfg


def test_pretrain_writes_loadable_assets_and_record(tmp_path: Path) -> None:
    cfg = PretrainConfig(steps=2, batch_size=8, warmup_steps=1, workers=0, eval_every=1, threads=1,
                         out_dir=tmp_path / "assets", data_root=tmp_path / "data", n_val_per_class=1,
                         n_test_per_class=1, in_style_per_class=1, model=_tiny_config())
    record = pretrain(cfg, progress=False)
    out = tmp_path / "assets"
    assert sorted(p.name for p in out.iterdir()) == ["toy_clip.json", "toy_clip.safetensors",
                                                      "toy_clip_record.json"]
    model, config = load_toy_clip(out / "toy_clip.json", out / "toy_clip.safetensors")
    assert config["preprocess_cfg"]["size"] == 32
    assert json.loads((out / "toy_clip_record.json").read_text()) == json.loads(json.dumps(record))
    assert record["steps_done"] == 2 and len(record["val_zero_shot_curve"]) == 2
    assert 0.0 <= record["zero_shot"]["accuracy"] <= 1.0
    assert set(build_clip(config).state_dict()) == set(model.state_dict())


def test_same_seed_same_initial_weights() -> None:
    torch.manual_seed(0)
    a = build_clip(_tiny_config()).state_dict()
    torch.manual_seed(0)
    b = build_clip(_tiny_config()).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_schedule_warms_up_then_decays_to_zero() -> None:
    cfg = PretrainConfig(steps=100, warmup_steps=10, lr=1.0)
    assert _lr_at(0, cfg) == 0.1 and _lr_at(9, cfg) == 1.0
    assert _lr_at(55, cfg) < 1.0 and _lr_at(99, cfg) < 0.01


def test_stream_batches_are_the_same_whatever_the_number_of_workers() -> None:
    from torch.utils.data import DataLoader

    from vlcat.synth.pretrain import _StreamBatches

    def drawn(workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        stream = _StreamBatches(seed=3, start=0, stop=5, batch_size=2, size=16, context_length=16)
        return list(DataLoader(stream, batch_size=None, num_workers=workers))

    single, sharded = drawn(0), drawn(2)
    assert len(single) == len(sharded) == 5
    for (i0, t0), (i1, t1) in zip(single, sharded, strict=True):
        assert torch.equal(i0, i1) and torch.equal(t0, t1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    tool = Path(__file__).resolve().parents[2] / "tools" / "pretrain_toy_clip.py"
    out = subprocess.run([sys.executable, str(tool), "--device", "cuda", "--steps", "1"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: --device cuda but torch sees no CUDA GPU here; use --device cpu"]


def test_continued_pretraining_starts_from_the_given_assets_and_names_them(tmp_path: Path) -> None:
    import hashlib

    from safetensors.torch import load_file

    def run(out: Path, **kw) -> dict:
        cfg = PretrainConfig(steps=1, batch_size=8, warmup_steps=1, workers=0, eval_every=0, threads=1,
                             out_dir=out, data_root=tmp_path / "data", n_val_per_class=1, n_test_per_class=1,
                             in_style_per_class=1, model=_tiny_config(), **kw)
        return pretrain(cfg, progress=False, command=f"test {out.name}")

    first = run(tmp_path / "a")
    # lr 0: AdamW moves nothing (decay is scaled by lr too), so the continued weights are the first ones.
    second = run(tmp_path / "b", init_from=tmp_path / "a", lr=0.0, seed=5)
    a, b = (load_file(str(tmp_path / d / "toy_clip.safetensors")) for d in ("a", "b"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "b" / "toy_clip.json").read_text()) == \
        json.loads((tmp_path / "a" / "toy_clip.json").read_text())  # architecture and normalisation kept
    source = second["init_from"]
    assert source["weights_sha256"] == hashlib.sha256((tmp_path / "a" / "toy_clip.safetensors").read_bytes()
                                                      ).hexdigest()
    assert source["command"] == "test a" and first["init_from"] is None
    assert second["images_seen_total"] == 16 and first["images_seen_total"] == 8


def test_init_from_a_folder_without_assets_is_a_one_line_error(tmp_path: Path) -> None:
    tool = Path(__file__).resolve().parents[2] / "tools" / "pretrain_toy_clip.py"
    out = subprocess.run([sys.executable, str(tool), "--init-from", str(tmp_path), "--out-dir", str(tmp_path / "o"),
                          "--steps", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "has no toy_clip.safetensors" in out.stderr and not (tmp_path / "o").exists()


def test_a_locked_image_tower_keeps_its_weights_and_statistics_while_the_text_side_learns(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    base = dict(batch_size=8, warmup_steps=1, workers=0, eval_every=0, threads=1, data_root=tmp_path / "data",
                n_val_per_class=1, n_test_per_class=1, in_style_per_class=1)
    cfg = _tiny_config()
    cfg["vision_cfg"] = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 8}  # BatchNorm
    pretrain(PretrainConfig(steps=1, out_dir=tmp_path / "a", model=cfg, **base), progress=False)
    record = pretrain(PretrainConfig(steps=3, lr=1e-2, out_dir=tmp_path / "b", init_from=tmp_path / "a",
                                     lock_image=True, **base), progress=False)
    a, b = (load_file(str(tmp_path / d / "toy_clip.safetensors")) for d in ("a", "b"))
    visual = [k for k in a if k.startswith("visual.")]
    assert any("running_mean" in k for k in visual)  # the statistics are checked too, not only weights
    assert all(torch.equal(a[k], b[k]) for k in visual)
    assert not torch.equal(a["token_embedding.weight"], b["token_embedding.weight"]) or \
        not torch.equal(a["text_projection"], b["text_projection"])
    assert record["lock_image"] is True
