"""Run folders cannot be corrupted: one writer at a time, resume continues exactly the run the folder holds.

Real tiny trainings on real PNGs, in real processes stopped with real signals (``VLCAT_FAULT_AT_STEP`` sends
the signal to the training process itself at an exact step).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlcat import rundir
from vlcat.cli import eval_main, train_main
from vlcat.testing import assert_one_line_error, tiny_overrides
from vlcat.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _over(tiny_data, tiny_model_file, tmp_path, name, **extra) -> list[str]:
    root, card = tiny_data
    extra.setdefault("train.log_every", 1)
    return tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name, **extra)


def _cli(args: list[str], env_extra: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(m["global_step"], m["loss"]) for m in map(json.loads, (run / rundir.METRICS).read_text().splitlines())]


def _killed(tiny_data, tiny_model_file, tmp_path, name, step, sig="KILL", **extra):
    over = _over(tiny_data, tiny_model_file, tmp_path, name, **extra)
    res = _cli(over, {"VLCAT_FAULT_AT_STEP": str(step), "VLCAT_FAULT_SIGNAL": sig})
    assert res.returncode != 0
    return over


def test_two_writers_on_one_folder_the_second_stops_with_the_holders_pid(tiny_data, tiny_model_file, tmp_path):
    over = _over(tiny_data, tiny_model_file, tmp_path, "shared", **{"optim.max_epoch": 100000})
    env = dict(os.environ)
    first = subprocess.Popen([sys.executable, str(REPO / "tools" / "train.py"), *over], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = tmp_path / "shared"
        deadline = time.monotonic() + 300
        while not (run / rundir.CHECKPOINT).exists():  # the first run holds the lock and is training
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for flag in ("--resume", "--overwrite"):
            second = _cli(over + [flag])
            assert second.returncode == 2
            assert_one_line_error(second.stderr, f"in use by another vlcat process (pid {first.pid})")
        plain = _cli(over)
        assert plain.returncode == 2 and "unfinished run" in plain.stderr
        assert first.poll() is None  # the second writers changed nothing under the first one
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 130 and "--resume" in err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    lines = [json.loads(line) for line in (run / rundir.METRICS).read_text().splitlines()]
    steps = [m["global_step"] for m in lines if m["type"] == "step"]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no interleaved or repeated lines
    ckpt = load_checkpoint(run / rundir.CHECKPOINT)
    assert ckpt["global_step"] == steps[-1]


def test_resume_of_a_finished_run_with_another_config_is_refused(tiny_data, tiny_model_file, tmp_path, capsys):
    over = _over(tiny_data, tiny_model_file, tmp_path, "done", **{"optim.max_epoch": 1})
    assert train_main(over) == 0
    before = (tmp_path / "done" / rundir.RECORD).read_text()
    capsys.readouterr()
    assert train_main(over + ["--resume", "optim.lr=0.5"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # the old result is not printed as if it were the new config's
    assert_one_line_error(err, "the config differs")
    assert "optim.lr: 0.002 -> 0.5" in err
    assert (tmp_path / "done" / rundir.RECORD).read_text() == before
    assert train_main(over + ["--resume"]) == 0  # the same config: the finished result is the answer
    assert json.loads(capsys.readouterr().out)["output_dir"] == str(tmp_path / "done")


@pytest.mark.parametrize("how", ["killed_in_the_first_epoch", "checkpoint_deleted"])
def test_resume_without_a_checkpoint_drops_stale_metrics(tiny_data, tiny_model_file, tmp_path, how):
    extra = {"optim.max_epoch": 3}
    full = _cli(_over(tiny_data, tiny_model_file, tmp_path, "full", **extra))
    assert full.returncode == 0, full.stderr
    # 4 steps per epoch: step 2 is before the first checkpoint; step 6 is after it (then it is deleted)
    over = _killed(tiny_data, tiny_model_file, tmp_path, "run", 2 if how == "killed_in_the_first_epoch" else 6,
                   **extra)
    run = tmp_path / "run"
    if how == "checkpoint_deleted":
        (run / rundir.CHECKPOINT).unlink()
    assert not (run / rundir.CHECKPOINT).exists() and _losses(run)
    resumed = _cli(over + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _losses(run) == _losses(tmp_path / "full")


def test_resume_refuses_a_folder_that_is_not_a_run(tiny_data, tiny_model_file, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    over = _over(tiny_data, tiny_model_file, tmp_path, "mine")
    for flags in (["--resume"], [], ["--overwrite"]):
        assert train_main(over + flags) == 2
        assert_one_line_error(capsys.readouterr().err, "is not a vlcat run folder")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_resume_with_only_the_run_folder_takes_its_saved_config(tiny_data, tiny_model_file, tmp_path):
    extra = {"optim.max_epoch": 3}
    full = _cli(_over(tiny_data, tiny_model_file, tmp_path, "full", **extra))
    assert full.returncode == 0, full.stderr
    _killed(tiny_data, tiny_model_file, tmp_path, "run", 6, "TERM", **extra)
    run = tmp_path / "run"
    # the README's command, from another working directory: no -c, no overrides
    resumed = _cli(["-o", str(run), "--resume"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads((d / rundir.RECORD).read_text()) for d in (tmp_path / "full", run))
    assert a["metrics"] == b["metrics"]
    assert _losses(run) == _losses(tmp_path / "full")
    changed = _cli(["-o", str(run), "--resume", "optim.max_epoch=5"], cwd=tmp_path)
    assert changed.returncode == 2 and "optim.max_epoch: 3 -> 5" in changed.stderr
    quiet = _cli(["-o", str(run), "--resume", "train.progress=true", "data.num_workers=1"], cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr  # keys that never change the numbers may differ


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_a_checkpoint", "garbage"])
def test_a_damaged_checkpoint_is_one_line_on_resume_and_eval(tiny_data, tiny_model_file, tmp_path, capsys, damage):
    over = _over(tiny_data, tiny_model_file, tmp_path, "run", **{"optim.max_epoch": 1})
    assert train_main(over) == 0
    run = tmp_path / "run"
    ckpt = run / rundir.CHECKPOINT
    data = ckpt.read_bytes()
    if damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "truncated":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "not_a_checkpoint":
        import torch

        torch.save({"weights": torch.zeros(3)}, ckpt)
    else:
        ckpt.write_bytes(os.urandom(4096))
    capsys.readouterr()
    assert eval_main([str(run), "--subsample", "all"]) == 2
    assert_one_line_error(capsys.readouterr().err, str(ckpt))
    (run / rundir.RECORD).unlink()  # now an unfinished run whose checkpoint is damaged
    assert train_main(over + ["--resume"]) == 2
    assert_one_line_error(capsys.readouterr().err, str(ckpt))


def test_a_corrupt_record_is_one_line_for_eval_and_resume_repairs_it(tiny_data, tiny_model_file, tmp_path, capsys):
    over = _over(tiny_data, tiny_model_file, tmp_path, "run", **{"optim.max_epoch": 1})
    assert train_main(over) == 0
    run = tmp_path / "run"
    good = json.loads((run / rundir.RECORD).read_text())
    (run / rundir.RECORD).write_text('{"status": "fini')
    capsys.readouterr()
    assert eval_main([str(run)]) == 2
    assert_one_line_error(capsys.readouterr().err, "record.json is unreadable")
    assert train_main(over) == 2  # not silently retrained
    assert "unfinished run" in capsys.readouterr().err
    assert train_main(over + ["--resume"]) == 0
    assert json.loads((run / rundir.RECORD).read_text())["metrics"] == good["metrics"]
    assert (run / (rundir.RECORD + ".broken")).read_text() == '{"status": "fini'


@pytest.mark.parametrize("where", ["a_file", "under_a_file", "unwritable"])
def test_an_output_folder_that_cannot_be_a_folder_is_one_line(tiny_data, tiny_model_file, tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = {"a_file": blocker, "under_a_file": blocker / "run",
           # /proc refuses new folders even to root, which a chmod'ed folder would not
           "unwritable": Path("/proc/vlcat-test-run")}[where]
    assert train_main(_over(tiny_data, tiny_model_file, tmp_path, "unused") + ["-o", str(out)]) == 2
    assert_one_line_error(capsys.readouterr().err, str(out))
    assert blocker.read_text() == "x"


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_data, tiny_model_file, tmp_path, capsys):
    # warm-up epoch 1 at 1e-5 is fine; epoch 2 at lr=1e30 blows the context up
    over = _over(tiny_data, tiny_model_file, tmp_path, "nan", **{"optim.lr": 1e30, "optim.warmup_epoch": 1})
    assert train_main(over) == 2
    assert_one_line_error(capsys.readouterr().err, "the loss became nan at epoch 2")
    run = tmp_path / "nan"
    ckpt = load_checkpoint(run / rundir.CHECKPOINT)
    assert (ckpt["epoch"], ckpt["step"]) == (1, 0)
    assert not (run / rundir.RECORD).exists()

    def strict(token):
        raise ValueError(f"non-finite number {token} in JSON")

    for line in (run / rundir.METRICS).read_text().splitlines():
        json.loads(line, parse_constant=strict)


def test_json_files_never_hold_nan(tiny_data, tiny_model_file, tmp_path):
    """An empty split's accuracy is undefined: it is written as null, not the invalid token NaN."""
    root, card = tiny_data
    split = json.loads((root / "tiny" / "split_tiny.json").read_text())
    split["val"] = []
    (root / "tiny" / "split_noval.json").write_text(json.dumps(split))
    noval = tmp_path / "noval.yaml"
    noval.write_text(card.read_text().replace("name: tiny", "name: noval").replace("split_tiny", "split_noval"))
    over = _over(tiny_data, tiny_model_file, tmp_path, "run", **{
        "optim.max_epoch": 1, "data.dataset": noval, "data.root": root, "train.eval_splits": "[val,test]"})
    assert train_main(over) == 0

    def strict(token):
        raise ValueError(f"non-finite number {token} in JSON")

    record = json.loads((tmp_path / "run" / rundir.RECORD).read_text(), parse_constant=strict)
    assert record["metrics"]["val"]["accuracy"] is None and record["metrics"]["test"]["accuracy"] >= 0


def test_fault_injection_is_read_once_per_trainer(monkeypatch):
    from vlcat.train.trainer import _fault_from_env

    monkeypatch.delenv("VLCAT_FAULT_AT_STEP", raising=False)
    assert _fault_from_env() is None
    monkeypatch.setenv("VLCAT_FAULT_AT_STEP", "7")
    monkeypatch.setenv("VLCAT_FAULT_SIGNAL", "TERM")
    assert _fault_from_env() == (7, int(signal.SIGTERM))


def test_folder_states_and_atomic_json(tmp_path):
    run = tmp_path / "r"
    assert rundir.folder_state(run) == "new"
    run.mkdir()
    assert rundir.folder_state(run) == "new"
    with rundir.RunLock(run):
        assert rundir.folder_state(run) == "new"  # the lock file alone is not a run
        with pytest.raises(rundir.RunError, match=f"pid {os.getpid()}"):
            rundir.RunLock(run).acquire()
    (run / "x.txt").write_text("x")
    assert rundir.folder_state(run) == "foreign"
    (run / rundir.CONFIG).write_text("{}")
    assert rundir.folder_state(run) == "unfinished"
    (run / rundir.RECORD).write_text("{")
    assert rundir.folder_state(run) == "broken"
    rundir.write_json(run / rundir.RECORD, {"status": "finished", "metrics": {"acc": float("nan")}})
    assert rundir.folder_state(run) == "finished"
    assert json.loads((run / rundir.RECORD).read_text())["metrics"] == {"acc": None}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
