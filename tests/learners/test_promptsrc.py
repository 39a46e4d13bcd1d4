"""PromptSRC against its paper's equations, written out here with plain torch, and its Gaussian prompt
aggregation (GPA) in real tiny runs: the weights by hand, the aggregate as the weighted sum of the prompts each
epoch ended with, and the same aggregate after an interruption and a resume.

Equations and defaults from muzairkhattak/PromptSRC ``trainers/promptsrc.py`` (``CustomCLIP.forward``,
``PromptSRC.forward_backward``, ``get_gauss``) and ``configs/trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml``.
The prompted features are IVLP's forward, checked against the layer-by-layer reference in test_deep_prompts.py.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vlcat.cli import train_main
from vlcat.config import CONFIG_DIR, load_config
from vlcat.learners.gpa import gaussian_weights
from vlcat.learners.promptsrc import PROMPTSRC_TEMPLATES, PromptSRC
from vlcat.testing import StopAtStep, tiny_overrides, tiny_prompt_depths
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.run import run_training
from vlcat.train.trainer import TrainerCallback

REPO = Path(__file__).resolve().parents[2]
YAML = CONFIG_DIR / "learners" / "promptsrc.yaml"
NAMES = ["red circle", "blue_square", "dog"]
TEMPLATES = ["a photo of a {}.", "a {} thing.", "itap of the {}."]


def _loud(learner: torch.nn.Module) -> None:
    """Prompts far from their init, so the prompted and frozen sides differ clearly."""
    with torch.no_grad():
        for p in learner.parameters():
            p.normal_(0.0, 1.0)


# ----- the losses ---------------------------------------------------------------------------------
def test_the_loss_is_the_papers_equations_written_out(tiny_clip):
    torch.manual_seed(0)
    learner = PromptSRC(tiny_clip, NAMES, n_ctx=2, n_ctx_vision=2, text_depth=2, vision_depth=2,
                        text_weight=25.0, image_weight=10.0, templates=TEMPLATES)
    _loud(learner)
    model = tiny_clip.model
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1, 2])
    out = learner.training_loss(images, labels)

    s = model.logit_scale.exp()
    with torch.no_grad():  # frozen CLIP: mean over templates of the unnormalised features, then L2
        per_template = [model.encode_text(tiny_clip.tokenizer([t.format(n.replace("_", " ")) for n in NAMES]))
                        for t in TEMPLATES]
        g_zs = torch.stack(per_template).mean(0)
        g_zs = g_zs / g_zs.norm(dim=-1, keepdim=True)
        f_zs = model.encode_image(images)
        f_zs = f_zs / f_zs.norm(dim=-1, keepdim=True)
    g = learner.class_features()
    g = g / g.norm(dim=-1, keepdim=True)
    f = learner.image_features(images)
    f = f / f.norm(dim=-1, keepdim=True)
    z, z_zs = s * f @ g.t(), s * f_zs @ g_zs.t()
    ce = -(z.log_softmax(-1)[torch.arange(4), labels]).mean()
    p_zs = z_zs.softmax(-1)
    kl = (p_zs * (p_zs.log() - z.log_softmax(-1))).sum() / (4 * len(NAMES))  # KL(zero-shot || prompted) / (B C)
    l1_text = (g - g_zs).abs().mean()
    l1_image = (f - f_zs).abs().mean()
    total = ce + kl + 25.0 * l1_text + 10.0 * l1_image

    tol = {"atol": 1e-5, "rtol": 1e-5}
    assert torch.allclose(out.logits, z, **tol)
    for name, ref in [("ce", ce), ("scl_logits", kl), ("scl_text", l1_text), ("scl_image", l1_image)]:
        assert torch.allclose(out.terms[name], ref.detach(), **tol), name
        assert ref.item() > 1e-4, f"{name} is too small here to say anything"
    assert torch.allclose(out.loss, total, **tol)
    params = list(learner.parameters())
    for a, b in zip(torch.autograd.grad(out.loss, params), torch.autograd.grad(total, params), strict=True):
        assert a.abs().sum() > 0 and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_the_authors_template_ensemble_and_defaults():
    assert len(PROMPTSRC_TEMPLATES) == len(set(PROMPTSRC_TEMPLATES)) == 60
    assert PROMPTSRC_TEMPLATES[0] == "a photo of a {}." and PROMPTSRC_TEMPLATES[-1] == "itap of the {}."
    cfg = load_config([YAML])
    o, opt = cfg.learner.promptsrc, cfg.optim
    assert (cfg.learner.n_ctx, cfg.learner.ctx_init, o.n_ctx_vision, o.text_depth, o.vision_depth) == (
        4, "a photo of a", 4, 9, 9)
    assert (o.text_weight, o.image_weight, o.gpa_mean, o.gpa_std, o.templates) == (25.0, 10.0, 15.0, 1.0, "paper")
    assert (opt.lr, opt.batch_size, opt.max_epoch, opt.warmup_epoch, opt.warmup_lr, opt.scheduler) == (
        0.0025, 4, 20, 1, 1e-5, "cosine")


# ----- GPA weights --------------------------------------------------------------------------------
def test_gpa_weights_are_the_normalised_gaussian_over_epochs():
    def pdf(x: float, mu: float, sigma: float) -> float:
        return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    raw = [pdf(e, 2.5, 1.5) for e in (1, 2, 3, 4)]
    assert gaussian_weights(4, 2.5, 1.5) == pytest.approx([r / sum(raw) for r in raw], rel=1e-12)
    released = gaussian_weights(20, 15, 1)
    assert sum(released) == pytest.approx(1.0) and max(range(20), key=released.__getitem__) == 14
    assert released[13] == pytest.approx(released[15]) and released[0] < 1e-40
    far = gaussian_weights(2, 500.0, 1.0)  # the densities underflow to 0/0; the normalised weights do not
    assert far[1] == 1.0 and 0.0 <= far[0] < 1e-200
    assert gaussian_weights(1, 15, 1) == [1.0]


# ----- GPA in real runs ---------------------------------------------------------------------------
GPA = {"learner.promptsrc.gpa_mean": 2.0, "learner.promptsrc.gpa_std": 1.0}
"""Weights that matter over 3 epochs (about 0.27, 0.45, 0.27)."""


class EpochPrompts(TrainerCallback):
    """The prompts after the last step of each epoch, before the epoch-end hook runs (on_step_end)."""

    def __init__(self) -> None:
        self.prompts: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, trainer, info) -> None:
        if info["step"] == trainer.steps_per_epoch:
            self.prompts.append({k: p.detach().clone() for k, p in trainer.learner.named_parameters()})


def _cfg(tiny_data, tiny_model_file, tmp_path, run: str, **extra):
    root, card = tiny_data
    over = {"data.subsample_classes": "base", "optim.max_epoch": 3, "optim.batch_size": 4, "optim.warmup_epoch": 0,
            "train.eval_splits": "[test]", "model.precision": "fp32", "learner.n_ctx": 2,
            "learner.promptsrc.templates": "card", **tiny_prompt_depths("promptsrc"), **GPA, **extra}
    return load_config([YAML], tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run, **over))


def _state(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoint.pt")["learner"]


@pytest.fixture(scope="module")
def full_run(tiny_data, tiny_model_file, tmp_path_factory):
    """An uninterrupted 3-epoch run (2 steps per epoch) and the prompts each epoch ended with."""
    tmp = tmp_path_factory.mktemp("promptsrc")
    rec = EpochPrompts()
    record = run_training(_cfg(tiny_data, tiny_model_file, tmp, "full"), callbacks=[rec])
    return tmp / "full", record, rec.prompts


def test_the_final_prompts_are_the_gaussian_weighted_sum_of_each_epochs_prompts(full_run):
    run_dir, record, epochs = full_run
    assert len(epochs) == 3
    w = gaussian_weights(3, 2.0, 1.0)
    state = _state(run_dir)
    for k in epochs[0]:
        expected = sum(wi * p[k] for wi, p in zip(w, epochs, strict=True))
        assert torch.allclose(state[k], expected, atol=1e-6, rtol=1e-6), k
        assert torch.allclose(state[f"gpa_sum.{k}"], expected, atol=1e-6, rtol=1e-6), k
        assert not torch.allclose(state[k], epochs[-1][k], atol=1e-4), f"{k}: the aggregate is the last epoch"
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(k in steps[0] for k in ("ce", "scl_text", "scl_image", "scl_logits"))
    assert 0 <= record["metrics"]["test"]["accuracy"] <= 100


@pytest.mark.parametrize("stop", [2, 3])
def test_an_interrupted_run_resumes_to_the_same_aggregate(stop, full_run, tiny_data, tiny_model_file, tmp_path):
    """Stopped after step 2 (epoch 1's last step, before its aggregation) or 3 (mid-epoch 2), then resumed."""
    run_dir, record, _ = full_run
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "stopped")
    with pytest.raises(Exception, match="interrupted"):
        run_training(cfg, callbacks=[StopAtStep(stop)])
    ckpt = load_checkpoint(tmp_path / "stopped" / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"]) == ((0, 2) if stop == 2 else (1, 1))
    resumed = run_training(cfg, resume=True, callbacks=[])
    a, b = _state(run_dir), _state(tmp_path / "stopped")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"] == record["metrics"]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_aggregate(tiny_data, tiny_model_file, tmp_path):
    """SIGKILL after step 4, the last step of epoch 2, before its aggregation: the checkpoint is epoch 1's end,
    and --resume must end with the uninterrupted run's prompts and sums, bit for bit."""
    root, card = tiny_data

    def cli(run: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        over = {"data.subsample_classes": "base", "optim.warmup_epoch": 0, "train.eval_splits": "[test]",
                "model.precision": "fp32", "learner.n_ctx": 2, "learner.promptsrc.templates": "card",
                **tiny_prompt_depths("promptsrc"), **GPA}
        args = ["-c", str(YAML), *tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run,
                                                  **over), *extra]
        return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *args], capture_output=True,
                              text=True, env=dict(os.environ, **(env or {})), cwd=REPO, timeout=600)

    assert cli("full").returncode == 0
    killed = cli("killed", env={"VLCAT_FAULT_AT_STEP": "4", "VLCAT_FAULT_SIGNAL": "KILL"})
    assert killed.returncode != 0
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (1, 0)
    assert cli("killed", "--resume").returncode == 0
    a, b = _state(tmp_path / "full"), _state(tmp_path / "killed")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


# ----- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, text", [
    ("learner.promptsrc.gpa_std", 0, "learner.promptsrc.gpa_std must be > 0, got 0"),
    ("learner.promptsrc.text_weight", -1, "learner.promptsrc.text_weight must be >= 0"),
    ("learner.promptsrc.templates", "many", "learner.promptsrc.templates='many' is not one of: paper, card"),
])
def test_bad_options_are_one_line_and_write_nothing(key, value, text, tiny_data, tiny_model_file, tmp_path, capsys):
    root, card = tiny_data
    rc = train_main(["-c", str(YAML)] + tiny_overrides(root, card, tiny_model_file, tmp_path / "cache",
                                                       tmp_path / "run", **{key: value}))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and text in err, err
    assert not (tmp_path / "run").exists()
