"""CLIP-Adapter, Tip-Adapter and Tip-Adapter-F as runs: the cache from the feature cache's views, Tip-Adapter-F's
AdamW with the per-step cosine and its search after training, the refusals (novel classes, the catalyst) as
one line that writes nothing, and sweeps that skip the novel evaluations these learners cannot make.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from vlcat import rundir
from vlcat.cli import eval_main, train_main
from vlcat.config import CONFIG_DIR, load_config
from vlcat.learners.tip_adapter import TipAdapter
from vlcat.sweeps import load_sweep, plan_sweep
from vlcat.testing import assert_one_line_error, tiny_overrides
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.features import FeatureCache
from vlcat.train.run import load_model, prepare_data, run_training, seed_everything


def _yaml(name: str) -> Path:
    return CONFIG_DIR / "learners" / f"{name}.yaml"


def _over(tiny_data, tiny_model_file, tmp_path, run: str, **extra) -> list[str]:
    root, card = tiny_data
    extra = {"optim.batch_size": 4, "train.log_every": 1, "train.eval_splits": "[test]", "model.precision": "fp32",
             **extra}
    return tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run, **extra)


def _grid(name: str, betas: int = 20, alphas: int = 10) -> dict[str, int]:
    """A smaller alpha/beta grid than the authors' 200 x 20, for speed."""
    return {f"learner.{name}.beta_steps": betas, f"learner.{name}.alpha_steps": alphas}


def test_tip_adapter_f_starts_from_tip_adapters_cache_and_trains_its_keys_with_adamw_on_a_step_cosine(
        tiny_data, tiny_model_file, tmp_path):
    base = {"data.subsample_classes": "base"}  # 2 classes x 4 shots = 8 images: 2 steps of 4 per epoch
    tip_cfg = load_config([_yaml("tip_adapter")], _over(tiny_data, tiny_model_file, tmp_path, "tip", **base))
    tip = run_training(tip_cfg)
    f_cfg = load_config([_yaml("tip_adapter_f")], _over(tiny_data, tiny_model_file, tmp_path, "tipf", **base,
                                                        **_grid("tip_adapter_f"), **{"optim.max_epoch": 2}))
    record = run_training(f_cfg)

    # Tip-Adapter's keys: the mean of the 10 cached augmented views (crop scale 0.5), L2-normalised
    seed_everything(tip_cfg.train.seed)  # the tiny model's random weights, as the run drew them
    splits = prepare_data(tip_cfg)
    clip = load_model(tip_cfg)
    cache = FeatureCache(tmp_path / "cache")
    views = torch.stack([cache.features(clip, splits.train, clip.train_transform, seed=1, view=v) for v in range(10)])
    assert cache.misses == 0  # the run put them there
    mean = views.mean(0)
    tip_state = load_checkpoint(tmp_path / "tip" / rundir.CHECKPOINT)["learner"]
    assert torch.allclose(tip_state["keys"], mean / mean.norm(dim=-1, keepdim=True), atol=1e-6)
    assert torch.equal(tip_state["values"], F.one_hot(torch.tensor([it.label for it in splits.train]), 2).float())
    assert tip["final_train"]["type"] == "fit" and tip["final_train"]["search"]["tried"] == 200 * 20  # authors' grid

    # Tip-Adapter-F: the same cache, keys moved by AdamW; LR of step t = lr/2 (1 + cos(pi t / 4)), no warm-up
    f_state = load_checkpoint(tmp_path / "tipf" / rundir.CHECKPOINT)["learner"]
    assert torch.equal(f_state["values"], tip_state["values"])
    assert not torch.allclose(f_state["keys"], tip_state["keys"], atol=1e-5)
    steps = [json.loads(s) for s in (tmp_path / "tipf" / "metrics.jsonl").read_text().splitlines()]
    lrs = [s["lr"] for s in steps if s["type"] == "step"]
    assert lrs == pytest.approx([0.5e-3 * (1 + math.cos(math.pi * t / 4)) for t in range(4)])
    # alpha and beta searched on validation after training: in the record and in the final checkpoint
    final = record["final_train"]
    assert final["type"] == "epoch" and final["search"]["tried"] == 20 * 10 and 0.0 <= final["search"]["val_acc"] <= 100
    assert f_state["alpha_beta"].tolist() == pytest.approx([final["alpha"], final["beta"]])
    assert f"alpha {final['alpha']:.4g}" in record["prompt"]


def test_the_released_optimizer_is_torch_adamw_with_the_authors_eps():
    """The trainer's optimizer for optim.name=adamw is torch's AdamW with optim.eps and weight_decay."""
    from vlcat.train.trainer import make_optimizer

    cfg = load_config([_yaml("tip_adapter_f")])
    p = torch.nn.Parameter(torch.ones(3))
    opt = make_optimizer([p], cfg.optim)
    assert isinstance(opt, torch.optim.AdamW)
    group = opt.param_groups[0]
    assert (group["lr"], group["eps"], group["weight_decay"]) == (0.001, 1e-4, 0.01)


def test_a_base_cache_refuses_novel_classes_in_one_line_and_an_all_class_cache_picks_them(
        tiny_data, tiny_model_file, tmp_path, capsys):
    over = _over(tiny_data, tiny_model_file, tmp_path, "base", **{"data.subsample_classes": "base"},
                 **_grid("tip_adapter"))
    assert train_main(["-c", str(_yaml("tip_adapter")), *over]) == 0
    capsys.readouterr()
    assert eval_main([str(tmp_path / "base"), "--subsample", "novel"]) == 2
    assert_one_line_error(capsys.readouterr().err, "tip_adapter has a cache only for the classes it was built on")
    assert not (tmp_path / "base" / rundir.EVAL_DIR).exists()  # nothing written, not even the folder

    all_over = _over(tiny_data, tiny_model_file, tmp_path, "all", **_grid("tip_adapter"))
    assert train_main(["-c", str(_yaml("tip_adapter")), *all_over]) == 0
    assert eval_main([str(tmp_path / "all"), "--subsample", "novel"]) == 0
    result = json.loads((tmp_path / "all" / rundir.EVAL_DIR / "tiny_novel_test.json").read_text())
    assert result["num_classes"] == 2 and set(result["metrics"]["per_class_accuracy"]) == {"blue", "yellow"}
    trained = json.loads((tmp_path / "all" / rundir.RECORD).read_text())["classnames"]
    assert trained == ["red", "green", "blue", "yellow"]
    state = load_checkpoint(tmp_path / "all" / rundir.CHECKPOINT)["learner"]
    clip = load_model(load_config([_yaml("tip_adapter")], _over(tiny_data, tiny_model_file, tmp_path, "x")))
    picked = TipAdapter(clip, ["yellow", "blue"]).state_for_classes(state, trained)
    assert torch.equal(picked["values"], state["values"][:, [3, 2]]) and torch.equal(picked["keys"], state["keys"])


@pytest.mark.parametrize("name", ["clip_adapter", "tip_adapter", "tip_adapter_f"])
def test_the_catalyst_is_refused_in_one_line_writing_nothing(name, tiny_data, tiny_model_file, tmp_path, capsys):
    over = _over(tiny_data, tiny_model_file, tmp_path, "cat", **{"catalyst.enabled": True})
    assert train_main(["-c", str(_yaml(name)), *over]) == 2
    assert_one_line_error(capsys.readouterr().err, f"catalyst.enabled=true needs a learner with context vectors "
                                             f"(cocoop, coop, kgcoop, prograd); '{name}' has none")
    assert not (tmp_path / "cat").exists()


def test_base_to_novel_sweeps_skip_the_novel_evaluation_of_the_caches_only(tmp_path):
    methods = [{"name": n, "configs": [str(_yaml(n))]} for n in ("clip_adapter", "tip_adapter", "tip_adapter_f")]
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"protocol": "base2novel", "datasets": ["dtd"], "seeds": [1], "shots": [16],
                                    "methods": methods}))
    runs = {r.config.learner.name: r for r in plan_sweep(load_sweep(path, ["output_dir=/sweep"]))}
    assert [e.subsample for e in runs["clip_adapter"].evals] == ["novel"]
    assert runs["tip_adapter"].evals == [] and runs["tip_adapter_f"].evals == []


def test_a_dataset_without_validation_keeps_the_initial_alpha_beta_with_a_warning(tiny_clip):
    learner = TipAdapter(tiny_clip, ["a", "b"], dataset="oxford_flowers")
    learner.start_training(torch.randn(1, 2, 32), torch.tensor([0, 1]))
    with pytest.warns(UserWarning, match="no validation split"):
        summary = learner.fit(torch.randn(2, 32), torch.tensor([0, 1]), None)
    assert (summary["alpha"], summary["beta"], learner.alpha, learner.beta) == (10.0, 1.0, 10.0, 1.0)


@pytest.mark.parametrize("name, why", [("clip_adapter", "changes the image features"),
                                       ("tip_adapter", "adds the logits of its cache"),
                                       ("tip_adapter_f", "adds the logits of its cache")])
def test_no_plain_classifier_is_exported_and_the_refusal_says_why(name, why):
    from vlcat.interop.export import ExportError, check_exportable

    with pytest.raises(ExportError) as err:
        check_exportable(name)
    assert str(err.value).startswith(f"learner {name} {why}") and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["clip_adapter", "tip_adapter_f"])
def test_bench_reference_step_computes_the_same_logits(name, tiny_clip):
    """tools/bench_train_step.py: the authors' step (image tower every step; CLIP-Adapter's text tower too)
    and vlcat's step on cached features give the same logits."""
    from vlcat.bench.train_step import bench_one

    r = bench_one(name, tiny_clip, n_classes=5, batch=4, n_ctx=0, repeats=0)
    assert r["diff"] <= 1e-4 and r["ref"].logits.shape == (4, 5)
