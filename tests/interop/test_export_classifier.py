"""A run's classifier exported for plain open_clip gives the logits ``vlcat-eval`` computes.

Real tiny runs on real PNG files; the check uses only what a plain open_clip user has: the model's
``encode_image`` and ``logit_scale``, and the two exported files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import vlcat.train.run as vrun
from vlcat.cli import export_classifier_main
from vlcat.config import CONFIG_DIR, load_config
from vlcat.data.images import load_image
from vlcat.testing import tiny_overrides
from vlcat.train.checkpoint import load_checkpoint


def _run(name, tiny_data, tiny_model_file, tmp_path, **extra):
    root, card = tiny_data
    over = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name,
                          **{"data.subsample_classes": "base", "optim.max_epoch": 1, "optim.warmup_epoch": 0,
                             "optim.batch_size": 4, "train.eval_splits": "[test]", "model.precision": "fp32",
                             **extra})
    cfg = load_config([CONFIG_DIR / "learners" / f"{name}.yaml"], over)
    return cfg, vrun.run_training(cfg)


@pytest.mark.parametrize("name", ["coop", "zeroshot"])
def test_exported_weights_give_the_logits_of_eval(name, tiny_data, tiny_model_file, tmp_path, capsys):
    cfg, record = _run(name, tiny_data, tiny_model_file, tmp_path)
    run_dir = Path(cfg.output_dir)
    assert export_classifier_main([str(run_dir)]) == 0, capsys.readouterr().err
    info = json.loads((run_dir / "export" / "classifier.json").read_text())
    weights = load_file(run_dir / "export" / "classifier.safetensors")["weights"]
    assert info["classnames"] == record["classnames"] and info["model"] == "tiny" and info["learner"] == name
    assert weights.shape == (2, 32) and torch.allclose(weights.norm(dim=-1), torch.ones(2))

    # eval.py's learner, built and loaded as evaluate_run does
    vrun.seed_everything(cfg.train.seed)
    splits = vrun.prepare_data(cfg)
    clip = vrun.load_model(cfg)
    learner = vrun.make_learner(cfg, clip, splits)
    if learner.trained_by != "none":
        learner.load_trainable_state(load_checkpoint(run_dir / "checkpoint.pt")["learner"])

    # what an open_clip user does: encode the images, cosine with the exported rows, times logit_scale
    model = clip.model
    images = torch.stack([clip.test_transform(load_image(d.path)) for d in splits.test])
    with torch.no_grad():
        feats = model.encode_image(images)
        logits = model.logit_scale.exp() * F.normalize(feats, dim=-1) @ weights.T
    assert info["logit_scale"] == pytest.approx(float(model.logit_scale.exp()))
    assert torch.allclose(logits, learner.predict(feats), atol=1e-5)
    labels = torch.tensor([d.label for d in splits.test])
    accuracy = float((logits.argmax(-1) == labels).float().mean() * 100)
    assert accuracy == pytest.approx(record["metrics"]["test"]["accuracy"])


def test_cocoop_is_refused_in_one_line_and_nothing_is_written(tiny_data, tiny_model_file, tmp_path, capsys):
    cfg, _ = _run("cocoop", tiny_data, tiny_model_file, tmp_path)
    out = tmp_path / "export"
    assert export_classifier_main([cfg.output_dir, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "per image" in err, err
    assert not out.exists()
    assert export_classifier_main([str(tmp_path / "nowhere")]) == 2
    assert "not a vlcat run folder" in capsys.readouterr().err
