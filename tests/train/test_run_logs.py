"""What a run prints into a log file (a cluster job's stdout), what it says on resume, and its TensorBoard
event files read back with TensorBoard's own reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlcat.config import load_config
from vlcat.testing import tiny_overrides
from vlcat.train.run import prepare_data, run_training

REPO = Path(__file__).resolve().parents[2]


def _train(args: list[str], log: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    with log.open("w") as out:  # a file, as a batch system gives a job: not a terminal
        return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *args], stdout=out,
                              stderr=subprocess.STDOUT, env=env, timeout=600, check=False)


@pytest.mark.parametrize("progress", ["true", "false"])
def test_log_file_gets_one_line_per_epoch_and_no_carriage_returns(tiny_data, tiny_model_file, tmp_path, progress):
    root, card = tiny_data
    run = tmp_path / "run"
    args = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run, **{"train.progress": progress,
                                                                                   "train.epoch_lines": "true"})
    proc = _train(args, tmp_path / "log.txt")
    text = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 0, text[-2000:]
    assert "\r" not in text
    epochs = [ln for ln in text.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/3", "2/3", "3/3"]
    assert all(" lr " in ln and " loss " in ln and " acc " in ln for ln in epochs)


def test_epoch_lines_can_be_turned_off_for_sweeps(tiny_data, tiny_model_file, tmp_path):
    root, card = tiny_data
    args = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run",
                          **{"train.epoch_lines": "false", "train.progress": "true"})
    assert _train(args, tmp_path / "log.txt").returncode == 0
    assert not [ln for ln in (tmp_path / "log.txt").read_text().splitlines() if ln.startswith("epoch ")]


def test_resume_says_where_it_continues(tiny_data, tiny_model_file, tmp_path):
    root, card = tiny_data
    run = tmp_path / "run"
    args = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run)
    killed = _train(args, tmp_path / "a.txt", {"VLCAT_FAULT_AT_STEP": "5", "VLCAT_FAULT_SIGNAL": "TERM"})
    assert killed.returncode == 130
    assert _train(["--resume", "-o", str(run)], tmp_path / "b.txt").returncode == 0
    lines = (tmp_path / "b.txt").read_text().splitlines()
    resumed = [ln for ln in lines if ln.startswith("resuming ")]
    assert resumed and "at epoch 2 step 2 (global step 5 of 12)" in resumed[0], lines[:5]


def test_tensorboard_events_hold_the_run_curves(tiny_data, tiny_model_file, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, card = tiny_data
    run = tmp_path / "run"
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run, **{
        "train.tensorboard": True, "train.log_every": 1}))
    run_training(cfg)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/acc", "train/lr", "epoch/loss", "epoch/acc", "epoch/lr"} <= tags
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [m for m in metrics if m["type"] == "epoch"]
    steps = [m for m in metrics if m["type"] == "step"]
    assert [e.step for e in acc.Scalars("epoch/lr")] == [m["global_step"] for m in epochs]
    assert [e.value for e in acc.Scalars("epoch/lr")] == pytest.approx([m["lr"] for m in epochs], rel=1e-6)
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx([m["loss"] for m in steps], rel=1e-6)
    assert prepare_data(cfg).val  # the tiny dataset has a few-shot validation split, so val/acc is logged
    assert len(acc.Scalars("val/acc")) == len(epochs)
    assert all(0.0 <= e.value <= 100.0 for e in acc.Scalars("val/acc"))


def test_feature_encoding_draws_no_bar_when_stderr_is_not_a_terminal(tiny_clip, tiny_data, capfd):
    """The encode bar is tqdm's: off a terminal its "\\r" updates would pile up in a job's log (the
    quickstart's log had them), so there it draws nothing; epoch lines say what happens."""
    from vlcat.data import load_dataset
    from vlcat.train.features import encode_images

    root, card = tiny_data
    splits = load_dataset(str(card), str(root))
    feats = encode_images(tiny_clip, splits.test, tiny_clip.test_transform, batch_size=2, desc="encode test")
    assert feats.shape[0] == len(splits.test)
    err = capfd.readouterr().err
    assert "encode test" not in err and "\r" not in err
