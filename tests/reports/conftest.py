"""Fixtures for report and sweep tests: hand-written run records, and tiny sweeps on the tiny dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlcat.testing import TINY_CFG, tiny_overrides, write_tiny_dataset

AXES = ("output_dir=", "data.dataset=", "data.num_shots=")


def write_record(run_dir: Path, *, method: str, dataset: str, seed: int, acc: float, shots: int | None = 16,
                 subsample: str = "all", label: str | None = None) -> Path:
    """A minimal finished run record as ``run_training`` writes it (only the keys reports read)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    learner = "zeroshot" if shots is None else method.split("+")[0]
    rec = {"status": "finished", "learner": learner, "method": method, "dataset": dataset, "subsample": subsample,
           "num_shots": -1 if shots is None else shots, "seed": seed,
           "metrics": {"test": {"accuracy": acc, "macro_f1": acc, "per_class_accuracy": {}, "n": 10}}}
    (run_dir / "record.json").write_text(json.dumps(rec))
    if label:
        (run_dir / "sweep.json").write_text(json.dumps({"method": label}))
    return run_dir


def write_eval(run_dir: Path, *, dataset: str, acc: float, subsample: str = "all", split: str = "test") -> Path:
    path = run_dir / "eval" / f"{dataset}_{subsample}_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": dataset, "subsample": subsample, "split": split,
                                "metrics": {"accuracy": acc, "macro_f1": acc, "n": 10}}))
    return path


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory):
    """Tiny PNG dataset, tiny model config file and a shared cache: what every tiny sweep needs."""
    root = tmp_path_factory.mktemp("tiny")
    card = write_tiny_dataset(root / "data")
    model_file = root / "tiny.json"
    model_file.write_text(json.dumps(TINY_CFG))
    return {"data": root / "data", "card": card, "model": model_file, "cache": root / "cache"}


def tiny_sweep_file(path: Path, env: dict, out: Path, **keys) -> Path:
    """A sweep YAML over the tiny dataset with the tiny model (1 epoch); ``keys`` change sweep keys."""
    run_overrides = [o for o in tiny_overrides(env["data"], env["card"], env["model"], env["cache"], out,
                                               **{"optim.max_epoch": 1})
                     if not o.startswith(AXES)]
    sweep = {"protocol": "fewshot", "output_dir": str(out), "overrides": run_overrides,
             "datasets": [str(env["card"])], "seeds": [1, 2], "shots": [1, 2],
             "methods": [{"name": "zeroshot", "overrides": ["learner.name=zeroshot"]},
                         {"name": "coop", "overrides": ["learner.name=coop"]}]}
    sweep.update(keys)
    path.write_text(yaml.safe_dump(sweep))
    return path


@pytest.fixture
def records():
    """The record/eval writers, as a fixture so test modules need no imports from conftest."""
    return type("Writers", (), {"record": staticmethod(write_record), "eval": staticmethod(write_eval)})


@pytest.fixture(scope="session")
def sweep_file():
    return tiny_sweep_file
