"""SIGINT and SIGTERM stop a sweep: the run in progress checkpoints, no new run starts, exit 130, one line
that says how to resume; running the same command again finishes the sweep.

Real sweep processes (``tools/fewshot.py``) on the tiny model and dataset, and real signals: sent by the
trainer to its own process at an exact step (``VLCAT_FAULT_AT_STEP``, as tests/train/test_train.py does), or
sent from here once the sweep has printed that a run finished (the signal then lands outside training).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vlcat.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "fewshot.py"


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    return lines[-1]


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_a_signal_during_training_stops_the_sweep_and_the_same_command_resumes_it(tiny_env, sweep_file, tmp_path,
                                                                                  sig):
    out = tmp_path / "sweep"
    # coop, 2 shots x 4 classes at batch 4: 2 steps per epoch, so step 3 is the first step of epoch 2
    path = sweep_file(tmp_path / "sweep.yaml", tiny_env, out, shots=[2],
                      methods=[{"name": "coop", "overrides": ["learner.name=coop", "optim.max_epoch=2"]}])
    cmd = [sys.executable, str(TOOL), "-c", str(path)]
    stopped = subprocess.run(cmd, env=_env(VLCAT_FAULT_AT_STEP="3", VLCAT_FAULT_SIGNAL=sig), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 130, stderr_tail(stopped)
    line = _last_line(stopped.stderr)
    assert line.startswith("error: sweep interrupted: 0 of 2 runs finished, coop/"), line
    assert "shots2_seed1 saved a checkpoint, no new run started" in line
    assert f"run the same command again: python tools/fewshot.py -c {path}" in line
    first, second = out / "coop" / "tiny" / "shots2_seed1", out / "coop" / "tiny" / "shots2_seed2"
    ckpt = load_checkpoint(first / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (1, 1)  # the step the signal came in, saved
    assert not (first / "record.json").exists() and not second.exists()  # no new run started

    resumed = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, stderr_tail(resumed)
    counts = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert (counts["resumed"], counts["trained"], counts["skipped"]) == (1, 1, 0)
    assert (first / "record.json").is_file() and (second / "record.json").is_file()


def test_a_signal_between_runs_stops_the_sweep_before_the_next_run(tiny_env, sweep_file, tmp_path):
    """SIGTERM (what Slurm and Kubernetes send) once the first run has finished: the sweep is loading, evaluating
    or starting the next zero-shot run, none of which is a training loop, and still stops with one line."""
    out = tmp_path / "sweep"
    path = sweep_file(tmp_path / "sweep.yaml", tiny_env, out, seeds=[1, 2, 3, 4, 5, 6],
                      methods=[{"name": "zeroshot", "overrides": ["learner.name=zeroshot"]}])
    proc = subprocess.Popen([sys.executable, str(TOOL), "-c", str(path)], env=_env(), cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    for line in proc.stderr:  # the per-run line: "[1/6] trained   zeroshot/tiny/seed1 ..."
        seen.append(line)
        if line.startswith("[1/6]"):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr[-3000:]
    line = _last_line(stderr)
    assert line.startswith("error: sweep interrupted by SIGTERM: "), line
    finished = int(line.split(": ")[2].split(" of ")[0])
    assert 1 <= finished < 6 and "no new run started" in line and "run the same command again" in line
    runs = [p for p in (out / "zeroshot" / "tiny").iterdir() if p.is_dir()]
    assert sum((p / "record.json").is_file() for p in runs) == finished
    assert len(runs) <= finished + 1  # at most the run that was in progress, nothing after it


def stderr_tail(res: subprocess.CompletedProcess) -> str:
    return res.stderr[-3000:]


def test_sigterm_to_a_ray_sweep_stops_its_tasks_and_the_same_command_resumes_it(tiny_env, sweep_file, tmp_path):
    """The driver of a Ray sweep gets SIGTERM once a run has written a checkpoint: queued runs never start,
    running ones are stopped, exit 130 with the one line; the same command (sequentially here) finishes it."""
    pytest.importorskip("ray")
    import shutil
    import tempfile
    import time

    out = tmp_path / "sweep"
    path = sweep_file(tmp_path / "sweep.yaml", tiny_env, out, shots=[4], seeds=[1, 2, 3],
                      # long enough that the stop lands mid-run on a slow machine: at 6 epochs both running
                      # tasks could finish before the driver's cancel reached them (seen in CI)
                      methods=[{"name": "coop", "overrides": ["learner.name=coop", "optim.max_epoch=40",
                                                              "optim.batch_size=2"]}])
    ray_tmp = tempfile.mkdtemp(prefix="vr", dir="/tmp")  # Ray's unix sockets need a short path
    cmd = [sys.executable, str(TOOL), "-c", str(path)]
    proc = subprocess.Popen([*cmd, "--backend", "ray"], env=_env(RAY_TMPDIR=ray_tmp), cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not list(out.rglob("checkpoint.pt")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 130, stderr[-3000:]
    line = _last_line(stderr)
    assert line.startswith("error: sweep interrupted by SIGTERM: "), line
    assert "no new run started" in line and "run the same command again" in line
    finished = int(line.split(": ")[2].split(" of ")[0])
    started = [p for p in (out / "coop" / "tiny").iterdir() if (p / "config.yaml").is_file()]
    stopped = [p for p in started if not (p / "record.json").is_file()]
    assert len(list(out.rglob("record.json"))) == finished < 3 and stopped
    assert len(stopped) <= (os.cpu_count() or 1)  # the runs in progress (one per CPU at most), none queued

    resumed = subprocess.run(cmd, env=_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, stderr_tail(resumed)
    counts = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert (counts["skipped"], counts["resumed"], counts["trained"]) == (finished, len(stopped), 3 - len(started))


@pytest.mark.parametrize("delay_ms", [0, 100])
def test_a_double_sigint_stops_the_sweep_with_its_one_line(tiny_env, sweep_file, tmp_path, delay_ms):
    """Ctrl-C twice, the second one at once (it lands in the step loop or the checkpoint write) or 100 ms later
    (the sweep is unwinding or printing its line): exit 130, the sweep's one line last, no traceback, and the
    run keeps a valid checkpoint."""
    import time

    out = tmp_path / "sweep"
    path = sweep_file(tmp_path / "sweep.yaml", tiny_env, out, shots=[2], seeds=[1],
                      methods=[{"name": "coop", "overrides": ["learner.name=coop", "optim.max_epoch=30"]}])
    proc = subprocess.Popen([sys.executable, str(TOOL), "-c", str(path)], env=_env(), cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run = out / "coop" / "tiny" / "shots2_seed1"
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoint.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        time.sleep(delay_ms / 1000)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    line = _last_line(stderr)
    assert line.startswith("error: sweep interrupted") and "run the same command again" in line, line
    assert load_checkpoint(run / "checkpoint.pt")["global_step"] >= 1 and not (run / "record.json").exists()
