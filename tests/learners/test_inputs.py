"""A learner that declares ``inputs = "pixels"`` gets preprocessed images every step and at evaluation.

The check: a CoOp variant that runs the (frozen) image tower itself on the pixels it is given must train
and evaluate exactly like CoOp on live-encoded features (``train.feature_cache=false``), crop for crop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vlcat.config import load_config
from vlcat.learners.coop import CoOp
from vlcat.testing import tiny_overrides
from vlcat.train.features import FeatureCache
from vlcat.train.run import evaluate_split, load_model, prepare_data
from vlcat.train.trainer import Trainer


class PixelCoOp(CoOp):
    """CoOp that encodes its own images: the smallest learner that needs pixels."""

    inputs = "pixels"

    def logits(self, inputs: torch.Tensor, class_features: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            feats = self.clip.model.encode_image(inputs).float()
        return super().logits(feats, class_features)


def _train(cls, tiny_data, tiny_model_file, tmp_path: Path, name: str):
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name, **{
        "train.feature_cache": False, "optim.max_epoch": 2, "train.log_every": 1}))
    splits = prepare_data(cfg)
    torch.manual_seed(0)  # the tiny model is randomly initialised: the same weights for both runs
    clip = load_model(cfg)
    learner = cls(clip, splits.classnames, n_ctx=4).to(clip.device)
    Path(cfg.output_dir).mkdir(parents=True)
    cache = FeatureCache(tmp_path / "cache", enabled=False)
    history = Trainer(cfg, clip, learner, splits.train, Path(cfg.output_dir), cache).fit()
    return history, learner.ctx.detach().clone(), evaluate_split(cfg, clip, learner, splits, "test", cache)


def test_pixel_learner_trains_and_evaluates_like_live_features(tiny_data, tiny_model_file, tmp_path):
    h_feat, ctx_feat, m_feat = _train(CoOp, tiny_data, tiny_model_file, tmp_path, "features")
    h_pix, ctx_pix, m_pix = _train(PixelCoOp, tiny_data, tiny_model_file, tmp_path, "pixels")
    assert [h["loss"] for h in h_pix] == pytest.approx([h["loss"] for h in h_feat], abs=1e-6)
    assert torch.allclose(ctx_pix, ctx_feat, atol=1e-6)
    assert m_pix["accuracy"] == m_feat["accuracy"] and m_pix["n"] == m_feat["n"] > 0
