"""The one seam between the catalyst and training: the trainer port, and the learners it can serve.

Read from the source, so a new reach into the trainer's internals fails here; and a learner that takes
pixels is refused in one line (config check and train start), not handed features it would misread.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import vlcat.catalyst
from vlcat.catalyst.callback import CatalystCallback
from vlcat.config import load_config, validate_learner
from vlcat.errors import ConfigError
from vlcat.learners.coop import CoOp
from vlcat.learners.registry import LearnerEntry, get_learner
from vlcat.testing import tiny_overrides
from vlcat.train.features import FeatureCache
from vlcat.train.port import PORT_MEMBERS, TrainingPort
from vlcat.train.run import load_model, prepare_data
from vlcat.train.trainer import Trainer

CATALYST = Path(vlcat.catalyst.__file__).parent


class PixelCoOp(CoOp):
    """The shape tests/learners/test_inputs.py trains: a context learner that encodes its own images."""

    inputs = "pixels"


def test_the_catalyst_reaches_the_trainer_only_through_the_port():
    used = {m for path in CATALYST.glob("*.py") for m in re.findall(r"\btrainer\.(\w+)", path.read_text())}
    assert used, "the pattern found no trainer access at all"
    assert used <= PORT_MEMBERS, f"not on the port: {sorted(used - PORT_MEMBERS)}"
    assert not (CATALYST / "restart.py").exists()


def test_the_trainer_implements_the_port(tiny_data, tiny_model_file, tmp_path):
    cfg, trainer = _trainer(CoOp, tiny_data, tiny_model_file, tmp_path)
    assert isinstance(trainer, TrainingPort)
    assert trainer.max_epoch == cfg.optim.max_epoch
    before = trainer.optimizer_state()
    part = trainer.epoch_slice(0, 2)
    outs = trainer.run_steps(part, 0, 2)
    assert len(outs) == 2 and trainer.global_step == 0  # only steps_done_ahead commits steps
    assert trainer.optimizer_state()["state"] and not before["state"]
    ev = trainer.evaluate(*trainer.plain_features("train"))
    assert ev.correct.dtype == torch.bool and 0.0 <= ev.acc <= 100.0


def test_a_pixel_learner_is_refused_by_the_config_check(tiny_data, tiny_model_file, tmp_path, monkeypatch):
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run",
                                               **{"catalyst.enabled": True}))
    validate_learner(cfg)  # CoOp itself takes features
    coop = get_learner("coop")
    monkeypatch.setattr("vlcat.config.get_learner", lambda name: LearnerEntry(name, PixelCoOp, coop.options))
    with pytest.raises(ConfigError, match="learner 'coop' takes pixels") as err:
        validate_learner(cfg)
    assert "trained on cached image features" in str(err.value) and "\n" not in str(err.value)


def test_a_pixel_learner_built_directly_is_refused_when_training_starts(tiny_data, tiny_model_file, tmp_path):
    cfg, trainer = _trainer(PixelCoOp, tiny_data, tiny_model_file, tmp_path, catalyst=True)
    with pytest.raises(ConfigError, match="trained on cached image features"):
        trainer.callbacks[0].on_train_start(trainer)


def _trainer(cls, tiny_data, tiny_model_file, tmp_path: Path, catalyst: bool = False):
    root, card = tiny_data
    over = {"catalyst.enabled": True, "catalyst.proposer": "none", "catalyst.plot": False} if catalyst else {}
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run",
                                               **over))
    splits = prepare_data(cfg)
    clip = load_model(cfg)
    learner = cls(clip, splits.classnames, n_ctx=4).to(clip.device)
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True)
    callbacks = [CatalystCallback(cfg, run_dir, splits)] if catalyst else []
    return cfg, Trainer(cfg, clip, learner, splits.train, run_dir, FeatureCache(tmp_path / "cache"), callbacks,
                        val_items=splits.val)
