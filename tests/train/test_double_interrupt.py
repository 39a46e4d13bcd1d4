"""Ctrl-C pressed twice stops a run with one line and exit 130, never a traceback, wherever the second lands.

The real CLI (``tools/train.py``) trains the tiny model on the tiny dataset in a subprocess for far more
epochs than it gets; once it has written its first checkpoint it receives SIGINT, then SIGINT again after a
delay. The delays span the windows a second signal can hit: the step loop and the stop checkpoint's write
(0-20 ms), the unwinding, the last line and the interpreter's exit (50-500 ms), and, when the first signal
came while an epoch's features were encoded, that encoding (where the second stops at once). Whatever
happened, the checkpoint holds every step the metrics log recorded, and ``--resume`` continues from it
to the end.
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
from vlcat.testing import tiny_overrides
from vlcat.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TRAIN = [sys.executable, str(REPO / "tools" / "train.py")]
DELAYS_MS = (0, 5, 20, 50, 100, 200, 500)
EPOCHS = 30  # seconds of training: far more than the few ms between the first checkpoint and the signal
STEPS_PER_EPOCH = 4  # 4 shots x 4 classes at batch 4


def _started(args: list[str], run: Path) -> subprocess.Popen:
    """A training process that has written its first checkpoint (so it is inside the step loop)."""
    proc = subprocess.Popen([*TRAIN, *args], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not (run / rundir.CHECKPOINT).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run did not start training: {proc.communicate()[1][-3000:]}")
        time.sleep(0.02)
    return proc


def _double_interrupt(proc: subprocess.Popen, delay_ms: int) -> tuple[int, str]:
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(delay_ms / 1000)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def _logged_steps(run: Path) -> list[int]:
    lines = [json.loads(line) for line in (run / rundir.METRICS).read_text().splitlines()]
    return [m["global_step"] for m in lines if m["type"] == "step"]


def test_a_second_sigint_at_any_moment_gives_one_line_exit_130_and_a_run_that_resumes(tiny_data, tiny_model_file,
                                                                                       tmp_path):
    root, card = tiny_data
    runs = {}
    for delay in DELAYS_MS:
        run = tmp_path / f"run_{delay}ms"
        args = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run,
                              **{"optim.max_epoch": EPOCHS, "train.log_every": 1})
        code, err = _double_interrupt(_started(args, run), delay)
        assert "Traceback" not in err and "Exception ignored" not in err, f"{delay} ms:\n{err[-3000:]}"
        assert code == 130, f"{delay} ms: exit {code}\n{err[-3000:]}"
        last = [line for line in err.splitlines() if line.strip()][-1]
        assert last.startswith("error: interrupted"), f"{delay} ms: {last}"  # the one line comes last
        ckpt = load_checkpoint(run / rundir.CHECKPOINT)  # valid: never cut short by the second signal
        steps = _logged_steps(run)
        assert steps == list(range(1, len(steps) + 1))
        assert ckpt["global_step"] == steps[-1], f"{delay} ms: finished steps after the checkpoint were lost"
        assert not (run / rundir.RECORD).exists() and steps[-1] < EPOCHS * STEPS_PER_EPOCH
        runs[delay] = (run, args, ckpt["global_step"])

    # Every stopped run resumes from its checkpoint; one of them is resumed to the end.
    run, args, step = runs[DELAYS_MS[len(DELAYS_MS) // 2]]
    done = subprocess.run([*TRAIN, *args, "--resume"], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"(global step {step} of {EPOCHS * STEPS_PER_EPOCH})" in done.stderr  # continued, not restarted
    assert _logged_steps(run) == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert json.loads((run / rundir.RECORD).read_text())["status"] == "finished"
