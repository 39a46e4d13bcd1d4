"""Training end to end on real PNGs with a tiny open_clip model: cache equivalence, resume, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vlcat.cli import train_main
from vlcat.config import load_config
from vlcat.testing import tiny_overrides
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.run import run_training

REPO = Path(__file__).resolve().parents[2]


def _overrides(tiny_data, tiny_model_file, tmp_path, name, **extra):
    root, card = tiny_data
    return tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name, **extra)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_cached_features_give_the_same_training_as_live_encoding(tiny_data, tiny_model_file, tmp_path):
    runs = {}
    for cache in (True, False):
        cfg = load_config(overrides=_overrides(tiny_data, tiny_model_file, tmp_path, f"run_{cache}",
                                               **{"train.feature_cache": cache, "train.log_every": 1}))
        runs[cache] = run_training(cfg)
    a, b = (_metrics(tmp_path / f"run_{c}") for c in (True, False))
    assert [m["loss"] for m in a] == pytest.approx([m["loss"] for m in b], abs=1e-5)
    ca, cb = (load_checkpoint(tmp_path / f"run_{c}" / "checkpoint.pt")["learner"]["ctx"] for c in (True, False))
    assert torch.allclose(ca, cb, atol=1e-5)
    assert runs[True]["feature_cache"]["misses"] > 1 and runs[False]["feature_cache"]["hits"] == 0


def test_feature_cache_is_reused_and_keyed(tiny_data, tiny_model_file, tmp_path):
    first = run_training(load_config(overrides=_overrides(tiny_data, tiny_model_file, tmp_path, "a")))
    second = run_training(load_config(overrides=_overrides(tiny_data, tiny_model_file, tmp_path, "b")))
    assert second["feature_cache"]["misses"] == 0 and second["feature_cache"]["hits"] == first["feature_cache"][
        "misses"]
    assert second["metrics"] == first["metrics"]
    other_seed = run_training(load_config(overrides=_overrides(tiny_data, tiny_model_file, tmp_path, "c",
                                                               **{"train.seed": 2})))
    assert other_seed["feature_cache"]["misses"] > 0


def test_record_contents_and_learning(tiny_data, tiny_model_file, tmp_path):
    """Class-specific contexts on a random tiny CLIP can fit 4 colour classes well above chance (25 %)."""
    over = _overrides(tiny_data, tiny_model_file, tmp_path, "fit", **{
        "learner.csc": True, "optim.lr": 0.5, "optim.max_epoch": 30, "optim.warmup_epoch": 0,
        "train.eval_splits": "[train,test]"})
    record = run_training(load_config(overrides=over))
    assert record["status"] == "finished" and record["method"] == "coop"
    assert record["split_sizes"] == {"train": 16, "val": 16, "test": 16}
    assert record["metrics"]["train"]["accuracy"] >= 75.0
    assert record["metrics"]["test"]["accuracy"] > 40.0
    assert set(record["metrics"]["test"]) == {"accuracy", "macro_f1", "per_class_accuracy", "n"}
    assert record["prompt"].endswith("{}.")
    assert (tmp_path / "fit" / "config.yaml").is_file()


def _cli(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
def test_killed_run_resumes_to_the_same_numbers(tiny_data, tiny_model_file, tmp_path, signal_name):
    extra = {"optim.max_epoch": 4, "train.log_every": 1}
    full = _cli(_overrides(tiny_data, tiny_model_file, tmp_path, "full", **extra))
    assert full.returncode == 0, full.stderr
    # step 6 is mid-epoch 2 (4 steps per epoch): SIGKILL loses the partial epoch, SIGTERM checkpoints it
    over = _overrides(tiny_data, tiny_model_file, tmp_path, "killed", **extra)
    killed = _cli(over, {"VLCAT_FAULT_AT_STEP": "6", "VLCAT_FAULT_SIGNAL": signal_name})
    assert killed.returncode != 0
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"]) == ((1, 2) if signal_name == "TERM" else (1, 0))
    if signal_name == "TERM":
        assert killed.returncode == 130 and "--resume" in killed.stderr
    assert not (tmp_path / "killed" / "record.json").exists()
    refused = _cli(over)
    assert refused.returncode == 2 and "unfinished run" in refused.stderr
    resumed = _cli(over + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "full" / "record.json").read_text())
    b = json.loads((tmp_path / "killed" / "record.json").read_text())
    assert a["metrics"] == b["metrics"]
    assert torch.equal(load_checkpoint(tmp_path / "full" / "checkpoint.pt")["learner"]["ctx"],
                       load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["learner"]["ctx"])
    assert [m["loss"] for m in _metrics(tmp_path / "full")] == [m["loss"] for m in _metrics(tmp_path / "killed")]


@pytest.mark.parametrize("extra, text", [
    ({"optim.lr": -1}, "optim.lr must be > 0"),
    ({"data.num_shots": 0}, "data.num_shots must be >= 1"),
    ({"optim.lrr": 1}, "unknown config key"),
    ({"model.name": "''", "model.config": "null"}, "no model given"),
    ({"model.checkpoint": "/nonexistent/w.pt"}, "checkpoint not found"),
    ({"data.root": "/nonexistent/data"}, "/nonexistent/data"),
])
def test_bad_input_is_one_line_and_writes_nothing(tiny_data, tiny_model_file, tmp_path, capsys, extra, text):
    rc = train_main(_overrides(tiny_data, tiny_model_file, tmp_path, "bad", **extra))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and text in err and err.count("\n") == 1
    assert not (tmp_path / "bad").exists()


def test_finished_run_is_refused_unless_overwrite(tiny_data, tiny_model_file, tmp_path, capsys):
    over = _overrides(tiny_data, tiny_model_file, tmp_path, "done", **{"optim.max_epoch": 1})
    assert train_main(over) == 0
    capsys.readouterr()
    assert train_main(over) == 2
    assert "finished run" in capsys.readouterr().err
    assert train_main(over + ["--resume"]) == 0
    assert train_main(over + ["--overwrite"]) == 0


def test_eval_on_novel_classes(tiny_data, tiny_model_file, tmp_path):
    from vlcat.train.run import evaluate_run

    over = _overrides(tiny_data, tiny_model_file, tmp_path, "b2n", **{"data.subsample_classes": "base"})
    record = run_training(load_config(overrides=over))
    assert record["num_classes"] == 2
    res = evaluate_run(tmp_path / "b2n", subsample="novel")
    assert res["num_classes"] == 2 and res["subsample"] == "novel"
    assert (tmp_path / "b2n" / "eval" / "tiny_novel_test.json").is_file()
