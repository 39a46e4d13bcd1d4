"""The sweep config schema and the plan: strict keys, deterministic folders, zero-shot once per seed."""

from __future__ import annotations

import pytest
import yaml

from vlcat.config import CONFIG_DIR
from vlcat.errors import ConfigError
from vlcat.sweeps import dataset_label, load_sweep, plan_sweep

EXPERIMENTS = ("fewshot", "base2novel", "cross_dataset", "domain_generalization")


def write(tmp_path, **keys):
    base = {"datasets": ["dtd"], "seeds": [1], "shots": [1], "methods": [{"name": "coop"}]}
    base.update(keys)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.mark.parametrize("keys, message", [
    ({"bogus": 1}, "unknown sweep config key 'bogus'; allowed here: protocol, output_dir, base_config"),
    ({"methods": [{"name": "x", "lr": 1}]}, "unknown sweep config key 'lr' in methods[]; allowed here: name, "
                                            "configs, overrides"),
    ({"eval_targets": [{"datset": "x"}]}, "in eval_targets[]; allowed here: dataset, subsample"),
    ({"methods": [{"overrides": []}]}, "'methods[0].name' is required"),
    ({"seeds": ["one"]}, "bad value for sweep config key 'seeds[0]'"),
    ({"protocol": "b2n"}, "protocol='b2n' is not one of: fewshot, base2novel"),
    ({"overrides": ["data.num_shots=4"]}, "sets 'data.num_shots', which the sweep sets from shots"),
    ({"methods": [{"name": "c", "overrides": ["train.seed=3"]}]}, "sets 'train.seed'"),
    ({"dataset_overrides": {"imagenett": ["optim.max_epoch=50"]}}, "dataset_overrides names 'imagenett'"),
    ({"datasets": ["nosuch"]}, "unknown dataset 'nosuch' in datasets"),
    ({"shot_overrides": {0: ["optim.max_epoch=50"]}}, "shot_overrides names K=0"),
    ({"methods": [{"name": "a/b"}]}, "method name 'a/b' must be"),
    ({"seeds": [1, 1]}, "seeds lists 1 twice"),
    ({"datasets": []}, "the sweep lists no datasets"),
    ({"eval_targets": [{"subsample": "new"}]}, "subsample='new' is not one of"),
])
def test_bad_sweep_configs_fail_with_one_line(tmp_path, keys, message):
    with pytest.raises(ConfigError) as info:
        load_sweep(write(tmp_path, **keys))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_run_override_fails_at_planning(tmp_path):
    sweep = load_sweep(write(tmp_path, overrides=["optim.lrr=1"]))
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        plan_sweep(sweep)


def test_plan_folders_zero_shot_once_per_seed(tmp_path):
    sweep = load_sweep(write(tmp_path, protocol="base2novel", seeds=[1, 2], shots=[2, 4],
                             methods=[{"name": "zeroshot", "overrides": ["learner.name=zeroshot"]}, {"name": "coop"}],
                             shot_overrides={4: ["optim.max_epoch=7"]}, dataset_overrides={"dtd": ["optim.lr=0.01"]},
                             eval_targets=[{"dataset": "eurosat"}]),
                       ["output_dir=/sweep"])
    runs = plan_sweep(sweep)
    assert [str(r.run_dir) for r in runs] == [
        "/sweep/zeroshot/dtd/seed1_base", "/sweep/zeroshot/dtd/seed2_base",
        "/sweep/coop/dtd/shots2_seed1_base", "/sweep/coop/dtd/shots2_seed2_base",
        "/sweep/coop/dtd/shots4_seed1_base", "/sweep/coop/dtd/shots4_seed2_base",
    ]
    zs, coop4 = runs[0].config, runs[-1].config
    assert (zs.learner.name, zs.data.num_shots, zs.data.subsample_classes) == ("zeroshot", -1, "base")
    assert (coop4.data.num_shots, coop4.train.seed, coop4.optim.max_epoch, coop4.optim.lr) == (4, 2, 7, 0.01)
    assert coop4.output_dir == "/sweep/coop/dtd/shots4_seed2_base"
    assert [(e.name, e.dataset, e.subsample) for e in runs[0].evals] == [
        ("dtd_novel_test", None, "novel"), ("eurosat_all_test", "eurosat", "all")]


def test_sweep_overrides_from_the_command_line(tmp_path):
    sweep = load_sweep(write(tmp_path), ["seeds=[3,4]", "shots=[8]"], ["data.root=/data"])
    assert (sweep.seeds, sweep.shots, sweep.overrides[-1]) == ([3, 4], [8], "data.root=/data")


def test_dataset_labels():
    assert dataset_label("oxford_pets") == "oxford_pets"
    assert dataset_label("/cards/tiny.yaml") == "tiny"
    assert dataset_label("folder:/data/birds/") == "birds"
    assert dataset_label("csv:/data/list.csv") == "list"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_configs_load(name):
    sweep = load_sweep(CONFIG_DIR / "experiments" / f"{name}.yaml")
    assert "zeroshot" in [m.name for m in sweep.methods]
    if name == "cross_dataset":
        assert sweep.datasets == ["imagenet"] and len(sweep.eval_targets) == 10
    if name == "domain_generalization":
        assert [t.dataset for t in sweep.eval_targets] == ["imagenet_v2", "imagenet_sketch", "imagenet_a",
                                                          "imagenet_r"]


def test_experiment_config_plans(tmp_path):
    """Every run config of a real experiment builds and validates (the domain-generalisation one: 9 runs)."""
    runs = plan_sweep(load_sweep("experiments/domain_generalization.yaml", [f"output_dir={tmp_path}"]))
    assert len(runs) == 9
    assert {e.overrides for r in runs for e in r.evals} == {("data.num_shots=-1",)}


def test_a_linear_probe_in_base_to_novel_is_planned_without_the_novel_evaluation(tmp_path):
    """A probe has weights for its training classes only: its row gets Base, and the sweep does not plan
    an evaluation that could only fail after training."""
    sweep = load_sweep(write(tmp_path, protocol="base2novel", methods=[
        {"name": "probe", "overrides": ["learner.name=linear_probe"]}, {"name": "coop"}]), ["output_dir=/sweep"])
    probe, coop = plan_sweep(sweep)
    assert probe.config.learner.name == "linear_probe" and probe.evals == []
    assert [e.subsample for e in coop.evals] == ["novel"]
