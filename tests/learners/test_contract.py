"""The learner contract, parametrized over the registry (as timm tests every model of ``list_models()``).

Every registered learner, built from its own ``configs/learners/<name>.yaml`` on the tiny model and the
tiny PNG dataset: trains two steps, round-trips its checkpoint, resumes bit-exactly after a real kill,
evaluates on base and novel classes (or refuses novel ones in one line), and runs an LLM stage against
the real vLLM server (or refuses ``catalyst.enabled=true`` in one line, writing nothing).

The tiny model is a ViT (2 image layers, 3 text layers), so the deep prompt learners run on it too; their
released depths (9, 12) exceed it, and every ``*depth`` option is set to 2 (a prompt at layer 0 and one
deeper layer) for the contract.
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

import vlcat.catalyst  # noqa: F401  registers the catalyst with the run loop
from vlcat.cli import train_main
from vlcat.config import CONFIG_DIR, load_config
from vlcat.errors import RunError
from vlcat.learners import get_learner, list_learners
from vlcat.testing import tiny_overrides, tiny_prompt_depths
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.run import evaluate_run, load_model, make_learner, prepare_data, run_training

REPO = Path(__file__).resolve().parents[2]
LEARNERS = list_learners()


def _yaml(name: str) -> Path:
    return CONFIG_DIR / "learners" / f"{name}.yaml"


def _over(tiny_data, tiny_model_file, tmp_path, run: str, name: str = "", **extra) -> list[str]:
    root, card = tiny_data
    # base classes: 2 classes x 4 shots = 8 images, batch 4: two steps per epoch
    extra = {"data.subsample_classes": "base", "optim.max_epoch": 1, "optim.batch_size": 4, "optim.warmup_epoch": 0,
             "train.log_every": 1, "train.eval_splits": "[test]", "model.precision": "fp32",
             **tiny_prompt_depths(name), **extra}
    return tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run, **extra)


def _cfg(name, tiny_data, tiny_model_file, tmp_path, run, **extra):
    return load_config([_yaml(name)], _over(tiny_data, tiny_model_file, tmp_path, run, name, **extra))


def _steps(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["type"] == "step"]


def test_every_learner_has_its_yaml_and_is_selected_by_it():
    assert {"coop", "zeroshot"} <= set(LEARNERS)
    for name in LEARNERS:
        assert _yaml(name).is_file(), f"configs/learners/{name}.yaml is missing"
        assert load_config(_yaml(name)).learner.name == name


@pytest.mark.parametrize("name", LEARNERS)
def test_trains_two_steps_round_trips_and_evaluates_base_and_novel(name, tiny_data, tiny_model_file, tmp_path):
    cls = get_learner(name).cls
    cfg = _cfg(name, tiny_data, tiny_model_file, tmp_path, "run")
    record = run_training(cfg)
    run_dir = Path(cfg.output_dir)
    assert record["learner"] == name and record["num_classes"] == 2
    assert 0.0 <= record["metrics"]["test"]["accuracy"] <= 100.0
    if cls.trained_by == "gradient":
        steps = _steps(run_dir)
        assert [s["global_step"] for s in steps] == [1, 2] and all(math.isfinite(s["loss"]) for s in steps)
    if cls.trained_by != "none":
        # the checkpoint round-trips: a fresh learner loaded from it holds the same tensors and scores the same
        state = load_checkpoint(run_dir / "checkpoint.pt")["learner"]
        assert state, "a trained learner must save some state"
        fresh = make_learner(cfg, load_model(cfg), prepare_data(cfg))
        fresh.load_trainable_state(state)
        again = fresh.trainable_state()
        assert set(again) == set(state) and all(torch.equal(again[k], state[k]) for k in state)
        same = evaluate_run(run_dir, subsample="base")
        assert same["metrics"] == record["metrics"]["test"]
    # novel classes: scored with the trained state, or refused in one line
    learner = make_learner(cfg, load_model(cfg), prepare_data(cfg))
    why = learner.new_classes_error()
    if why is None:
        novel = evaluate_run(run_dir, subsample="novel")
        assert novel["num_classes"] == 2 and novel["subsample"] == "novel" and novel["metrics"]["n"] > 0
    else:
        with pytest.raises(RunError) as err:
            evaluate_run(run_dir, subsample="novel")
        assert str(err.value).startswith(why) and "\n" not in str(err.value)  # the reason, then the details


def _start(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, str(REPO / "tools" / "train.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _cli(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return _finish(_start(args, env_extra))


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNERS)
def test_resumes_bit_exactly_after_a_kill(name, tiny_data, tiny_model_file, tmp_path):
    """SIGKILL at step 3 (mid-epoch 2 of 2); --resume must end with exactly the uninterrupted numbers.
    Learners that do not train by steps have nothing to kill mid-way: a rerun must give the same record."""
    cls = get_learner(name).cls
    extra = {"optim.max_epoch": 2}
    args = ["-c", str(_yaml(name))]
    # The uninterrupted run and the one to be killed run side by side: most of each is Python's start-up,
    # and their numbers cannot depend on each other (separate processes, separate run folders).
    full_proc = _start(args + _over(tiny_data, tiny_model_file, tmp_path, "full", name, **extra))
    over = args + _over(tiny_data, tiny_model_file, tmp_path, "killed", name, **extra)
    if cls.trained_by == "gradient":
        killed = _cli(over, {"VLCAT_FAULT_AT_STEP": "3", "VLCAT_FAULT_SIGNAL": "KILL"})
        full = _finish(full_proc)
        assert full.returncode == 0, full.stderr
        assert killed.returncode != 0 and not (tmp_path / "killed" / "record.json").exists()
        ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
        assert (ckpt["epoch"], ckpt["step"]) == (1, 0)
        resumed = _cli(over + ["--resume"])
    else:
        resumed = _cli(over)
        full = _finish(full_proc)
        assert full.returncode == 0, full.stderr
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads((tmp_path / r / "record.json").read_text()) for r in ("full", "killed"))
    assert a["metrics"] == b["metrics"] and a["prompt"] == b["prompt"]
    if cls.trained_by != "none":
        sa, sb = (load_checkpoint(tmp_path / r / "checkpoint.pt")["learner"] for r in ("full", "killed"))
        assert set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [s["loss"] for s in _steps(tmp_path / "full")] == [s["loss"] for s in _steps(tmp_path / "killed")]


@pytest.mark.llm
@pytest.mark.parametrize("name", LEARNERS)
def test_runs_an_llm_stage_or_refuses_the_catalyst(name, llm_server, tiny_data, tiny_model_file, tmp_path, capsys):
    cls = get_learner(name).cls
    catalyst = {"catalyst.enabled": True, "catalyst.epochs": "[1]", "catalyst.snapshots_per_stage": 2,
                "catalyst.num_candidates": 3, "llm.base_url": llm_server.url, "llm.model": llm_server.served_name,
                "llm.max_retries": 0, "llm.max_tokens": 96, "llm.temperature": 0.7, "llm.timeout": 120}
    if cls.catalyst_refusal:
        _refuses_the_catalyst(name, tiny_data, tiny_model_file, tmp_path, capsys, catalyst)
        return
    if not cls.has_context:
        rc = train_main(["-c", str(_yaml(name))] + _over(tiny_data, tiny_model_file, tmp_path, "cat", name, **catalyst))
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("error: catalyst.enabled=true needs a learner with context")
        assert err.count("\n") == 1 and not (tmp_path / "cat").exists()
        return
    cfg = _cfg(name, tiny_data, tiny_model_file, tmp_path, "cat", **catalyst)
    record = run_training(cfg)
    assert record["method"] == f"{name}+catalyst" and record["catalyst"]["stages"] == 1
    stage = json.loads((tmp_path / "cat" / "llm_stages" / "stage_1.json").read_text())
    assert stage["llm"] is not None and stage["replies"], stage["error"]  # the server was asked and answered
    assert math.isfinite(stage["current"]["loss"]) and stage["trajectory"]
    assert stage["current"]["text"] == stage["trajectory"][-1]["text"]  # decoded through the protocol
    if stage["decision"]["restart"]:
        assert stage["decision"]["verified"]  # the re-embedded text decodes back to its own tokens


def _refuses_the_catalyst(name, tiny_data, tiny_model_file, tmp_path, capsys, catalyst) -> None:
    """The learner's own reason, one line, exit 2, nothing written (the config check, before any work)."""
    why = get_learner(name).cls.catalyst_refusal
    rc = train_main(["-c", str(_yaml(name))] + _over(tiny_data, tiny_model_file, tmp_path, "cat", name, **catalyst))
    err = capsys.readouterr().err
    assert rc == 2 and err == f"error: catalyst.enabled=true cannot serve learner '{name}': {why}; set " \
                              "catalyst.enabled=false\n"
    assert not (tmp_path / "cat").exists()


REFUSING = [n for n in LEARNERS if get_learner(n).cls.catalyst_refusal]


@pytest.mark.parametrize("name", REFUSING)
def test_learners_the_catalyst_cannot_serve_refuse_it_at_the_config_check_and_at_train_start(
        name, tiny_data, tiny_model_file, tmp_path, capsys):
    """No LLM server needed: the refusal comes before any endpoint is looked at. At train start (a learner built
    in code, past the config check) the catalyst's callback refuses it with the same line."""
    from vlcat.catalyst.callback import CatalystCallback
    from vlcat.errors import ConfigError
    from vlcat.train.features import FeatureCache
    from vlcat.train.trainer import Trainer

    catalyst = {"catalyst.enabled": True, "catalyst.proposer": "none", "catalyst.plot": False}
    _refuses_the_catalyst(name, tiny_data, tiny_model_file, tmp_path, capsys, catalyst)
    cfg = _cfg(name, tiny_data, tiny_model_file, tmp_path, "direct")
    splits = prepare_data(cfg)
    clip = load_model(cfg)
    learner = make_learner(cfg, clip, splits)
    cfg.catalyst.enabled, cfg.catalyst.proposer, cfg.catalyst.plot = True, "none", False
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True)
    trainer = Trainer(cfg, clip, learner, splits.train, run_dir, FeatureCache(tmp_path / "cache"),
                      [CatalystCallback(cfg, run_dir, splits)], val_items=splits.val)
    with pytest.raises(ConfigError, match=f"cannot serve learner '{name}'") as err:
        trainer.callbacks[0].on_train_start(trainer)
    assert "\n" not in str(err.value)
