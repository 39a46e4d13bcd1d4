"""A sweep's LLM endpoint is checked before each catalyst run: a dead server is replaced, or the run fails.

Real processes throughout: the benchmark (tools/bench_catalyst.py compare) runs in a subprocess on the
offline world; the server it reuses is a real vLLM server this test starts and then kills under it.
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

ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, str(ROOT / "tools" / "bench_catalyst.py"), "compare", "--settings", "fs1"]
SHORT = ["optim.max_epoch=2", "catalyst.rounds=1"]


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "VLCAT_LLM_STATE": str(state), "PYTHONPATH": str(ROOT)}


def test_without_a_server_it_may_start_the_llm_runs_fail_and_the_others_finish(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([*BENCH, "--methods", "coop", "lookahead", "--seeds", "1", "-o", str(out),
                           "--data-root", str(tmp_path / "data"), "--set", *SHORT, "llm.start_server=false"],
                          env=_env(tmp_path / "no-server.json"), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "failed   lookahead/synth_shapes/shots1_seed1" in proc.stderr
    assert "no vLLM server is running and llm.start_server=false" in proc.stderr
    assert (out / "fs1" / "coop" / "synth_shapes" / "shots1_seed1" / "record.json").is_file()
    # the LLM run trained nothing: no record, and the report has no lookahead row
    assert not (out / "fs1" / "lookahead" / "synth_shapes" / "shots1_seed1" / "record.json").exists()
    report = (out / "report.md").read_text()
    assert "| coop | 1 |" in report and "| lookahead |" not in report


@pytest.mark.slow
@pytest.mark.llm
def test_a_reused_server_killed_under_a_benchmark_is_replaced_before_the_next_llm_run(tmp_path):
    from vlcat.bench.catalyst import read_outcome
    from vlcat.llm.model import resolve_model
    from vlcat.llm.serve import ServerConfig, _pid_alive, read_state, start_server

    state = tmp_path / "server.json"
    resolved = resolve_model()
    # "another process's" server: recorded in the state file the benchmark reads, so the benchmark reuses it
    other = start_server(ServerConfig(model=resolved.model, served_name=resolved.served_name, dtype=resolved.dtype,
                                      state_path=str(state), startup_timeout=900))
    out = tmp_path / "bench"
    cmd = [*BENCH, "--methods", "coop", "lookahead", "--seeds", "1", "2", "-o", str(out),
           "--data-root", str(tmp_path / "data"), "--set", *SHORT]
    first_llm_run = out / "fs1" / "lookahead" / "synth_shapes" / "shots1_seed1" / "record.json"
    with other:
        bench = subprocess.Popen(cmd, env=_env(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 600
            while not first_llm_run.is_file() and bench.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert first_llm_run.is_file(), "the first LLM run never finished"
            # Freeze the benchmark between runs (the next one, CoOp on seed 2, needs no LLM), kill the
            # server it reused, and let it go on: the next LLM run must not start against a dead server.
            bench.send_signal(signal.SIGSTOP)
            other.stop()
            bench.send_signal(signal.SIGCONT)
            stdout, stderr = bench.communicate(timeout=900)
        finally:
            if bench.poll() is None:
                bench.kill()
    assert bench.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"the reused server at {other.url} stopped answering; starting a new one" in stderr
    for seed in (1, 2):
        got = read_outcome(out / "fs1" / "lookahead" / "synth_shapes" / f"shots1_seed{seed}", "fewshot")
        assert got is not None and got.stages == 1 and got.llm_errors == 0, seed
    report = (out / "report.md").read_text()
    assert "| lookahead | 2 |" in report and "refused" not in report
    # the server the benchmark started was stopped at its end
    left = read_state(state)
    assert left is None or not _pid_alive(int(left["pid"])), json.dumps(left)
