"""Config: defaults, YAML extends, overrides, and one-line errors before any work."""

from __future__ import annotations

import pytest

from vlcat.config import CONFIG_DIR, load_config
from vlcat.errors import ConfigError


def test_defaults_are_coop_protocol():
    cfg = load_config()
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.002, 0.9, 5e-4)
    assert (cfg.optim.batch_size, cfg.optim.warmup_epoch, cfg.optim.warmup_lr) == (32, 1, 1e-5)
    assert cfg.learner.n_ctx == 16 and cfg.learner.class_token_position == "end"


def test_extends_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("optim:\n  lr: 0.01\n  max_epoch: 5\nlearner:\n  n_ctx: 8\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\noptim:\n  max_epoch: 7\n")
    cfg = load_config(tmp_path / "child.yaml", ["learner.n_ctx=4"])
    assert (cfg.optim.lr, cfg.optim.max_epoch, cfg.learner.n_ctx) == (0.01, 7, 4)


@pytest.mark.parametrize("overrides, text", [
    (["optim.lrr=1"], "unknown config key 'optim.lrr'; allowed here: batch_size, eps, lr"),
    (["nope=1"], "unknown config key 'nope'"),
    (["optim.lr=fast"], "bad value for 'optim.lr'"),
    (["optim.lr=-0.1"], "optim.lr must be > 0"),
    (["data.num_shots=0"], "data.num_shots must be >= 1"),
    (["learner.name=nonesuch"], "learner.name='nonesuch' is not one of: clip_adapter, cocoop, coop, ivlp, kgcoop, "
                                "linear_probe, maple, prograd, promptsrc, tip_adapter, tip_adapter_f, vpt_deep, "
                                "zeroshot"),
    (["learner.zeroshot.templates=ensemble"], "learner.zeroshot.templates is an option of learner 'zeroshot', "
                                              "but learner.name=coop (known learners: clip_adapter, cocoop, coop, "),
    (["learner.name=zeroshot", "catalyst.enabled=true"], "catalyst.enabled=true needs a learner with context"),
    (["learner.nctx=4"], "unknown config key 'learner.nctx'; allowed here: "),
    (["learner.name=cocoop", "learner.csc=true"], "learner cocoop has one shared context"),
    (["learner.name=linear_probe", "catalyst.enabled=true"], "'linear_probe' has none"),
    (["learner.name=clip_adapter", "catalyst.enabled=true"], "'clip_adapter' has none"),
    (["learner.name=tip_adapter", "catalyst.enabled=true"], "'tip_adapter' has none"),
    (["learner.name=tip_adapter_f", "catalyst.enabled=true"], "'tip_adapter_f' has none"),
    (["optim.scheduler=cosine_step"], "optim.scheduler=cosine_step has no warm-up; set optim.warmup_epoch=0"),
    (["optim.name=adam"], "optim.name='adam' is not one of: sgd, adamw"),
    (["learner.name=kgcoop", "learner.kgcoop.weight=-1"], "learner.kgcoop.weight must be >= 0"),
    (["learner.name=prograd", "learner.ctx_init=a photo of a"], "use learner.prograd.init=coop"),
    (["learner.prograd.weight=2"], "learner.prograd.weight is an option of learner 'prograd'"),
    (["catalyst.epochs=[0]"], "outside 1..optim.max_epoch"),
    (["lr"], "must look like key=value"),
])
def test_errors_name_the_key(overrides, text):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert text in str(err.value) and "\n" not in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "broken.yaml").write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(tmp_path / "broken.yaml")


def test_shipped_configs_validate():
    """Run configs (learners/, catalyst/); experiments/ holds sweep configs, tested with the sweeps."""
    files = sorted(CONFIG_DIR.glob("learners/*.yaml")) + sorted(CONFIG_DIR.glob("catalyst/*.yaml"))
    assert files
    for f in files:
        load_config(f)
