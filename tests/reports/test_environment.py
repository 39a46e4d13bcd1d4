"""Every record names what its run ran on (versions, hardware, threads, data digests), and ``vlcat-report``
warns when runs it averages differ in any of them. Real tiny runs; the differences are made for real (the
thread count, another few-shot sample), except another torch version, which a record from another machine
would carry: that one is written into a real record by hand."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from vlcat.cli.report import main as report_main
from vlcat.config import load_config
from vlcat.environment import SAME_IN_A_CELL, environment_warnings
from vlcat.results import load_results
from vlcat.testing import tiny_overrides, write_tiny_dataset
from vlcat.train.run import run_training

pytestmark = pytest.mark.slow


def _run(tiny_env, out, **extra):
    over = tiny_overrides(tiny_env["data"], tiny_env["card"], tiny_env["model"], tiny_env["cache"], out,
                          **{"optim.max_epoch": 1, **extra})
    return run_training(load_config(overrides=over))


@pytest.fixture(scope="module")
def runs(tiny_env, tmp_path_factory):
    """coop seeds 1 and 2 (seed 2 at another thread count), kgcoop seed 1 on a tiny dataset with more training
    images (so another few-shot sample for the same seed)."""
    out = tmp_path_factory.mktemp("env")
    threads = torch.get_num_threads()
    first = _run(tiny_env, out / "coop1")
    torch.set_num_threads(1 if threads > 1 else 2)
    try:
        second = _run(tiny_env, out / "coop2", **{"train.seed": 2})
    finally:
        torch.set_num_threads(threads)
    other = tmp_path_factory.mktemp("other_tiny")  # the same dataset name with more training images
    card = write_tiny_dataset(other, n_train=8)
    third = run_training(load_config(overrides=tiny_overrides(
        other, card, tiny_env["model"], tiny_env["cache"], out / "kgcoop1",
        **{"optim.max_epoch": 1, "learner.name": "kgcoop"})))
    return out, first, second, third


def test_the_record_names_versions_hardware_and_data(runs, tiny_env, tmp_path):
    out, first, second, _ = runs
    env = first["environment"]
    assert set(SAME_IN_A_CELL) | {"fewshot_sha256"} <= set(env)
    assert env["torch"] == torch.__version__ and env["threads"] == torch.get_num_threads()
    assert env["device"].startswith("cpu") and env["open_clip"] and env["torchvision"]
    assert env["split_sha256"] == second["environment"]["split_sha256"]  # same split file, another seed
    assert env["fewshot_sha256"] != second["environment"]["fewshot_sha256"]  # another seed, another sample
    # The same data under another root gives the same digests: they name the data, not where it lies.
    root = tmp_path / "elsewhere"
    shutil.copytree(tiny_env["data"], root)
    moved = run_training(load_config(overrides=tiny_overrides(
        root, root / "tiny.yaml", tiny_env["model"], tmp_path / "cache", tmp_path / "moved",
        **{"optim.max_epoch": 1})))
    assert (moved["environment"]["split_sha256"], moved["environment"]["fewshot_sha256"]) == (
        env["split_sha256"], env["fewshot_sha256"])
    # ... and another split (one test image less) another split digest
    other = tmp_path / "other"
    card = write_tiny_dataset(other, n_test=3)
    changed = run_training(load_config(overrides=tiny_overrides(
        other, card, tiny_env["model"], tmp_path / "cache", tmp_path / "changed", **{"optim.max_epoch": 1})))
    assert changed["environment"]["split_sha256"] != env["split_sha256"]


def test_the_report_warns_about_runs_that_differ(runs, capsys):
    out = runs[0]
    results, _ = load_results(out)
    lines = environment_warnings(results)
    assert any(line.startswith("runs averaged for coop on tiny (all classes, 4 shots) differ in threads: ")
               for line in lines), lines
    assert any("methods on tiny (all classes, 4 shots, seed 1) trained on different few-shot samples: "
               "fewshot_sha256" in line for line in lines), lines
    assert not any("kgcoop on tiny" in line for line in lines)  # one run: nothing to compare
    # A record from a machine with another torch (written by hand: this machine has one torch).
    rec_path = out / "coop2" / "record.json"
    rec = json.loads(rec_path.read_text())
    rec["environment"]["torch"] = "2.0.0"
    rec_path.write_text(json.dumps(rec))
    assert report_main([str(out), "--out", "", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert f"warning: runs averaged for coop on tiny (all classes, 4 shots) differ in torch: {torch.__version__}" \
           in err and "2.0.0 (1 run, e.g." in err
