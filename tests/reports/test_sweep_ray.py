"""Sweeps on real Ray (a local instance, and a two-node cluster on this machine): same records as the
sequential backend, and a run lost with its node is retried and resumed. Ray is an optional extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from vlcat.sweeps import load_sweep, plan_sweep, run_sweep

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def outcome(out: Path) -> dict:
    """Every run's numbers and learned prompt, and every evaluation's numbers, by run folder."""
    got = {}
    for rec in sorted(out.rglob("record.json")):
        data = json.loads(rec.read_text())
        rel = rec.parent.relative_to(out).as_posix()
        train = {k: v for k, v in data["final_train"].items() if k != "time_s"}  # wall time differs, nothing else
        got[rel] = {"metrics": data["metrics"], "prompt": data["prompt"], "final_train": train}
        for ev in sorted((rec.parent / "eval").glob("*.json")):
            got[f"{rel}/eval/{ev.name}"] = json.loads(ev.read_text())["metrics"]
    return got


def sequential(sweep) -> dict:
    """The sequential backend at one thread, the thread count of a Ray task with one CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_sweep(sweep)
    finally:
        torch.set_num_threads(threads)
    return outcome(Path(sweep.output_dir))


def short_tmp() -> str:
    """Ray's session folder must be short (it holds unix sockets, whose paths are limited to ~100 bytes)."""
    return tempfile.mkdtemp(prefix="vr", dir="/tmp")


def b2n_sweep(tmp: Path, env: dict, sweep_file, name: str, **keys):
    path = sweep_file(tmp / f"{name}.yaml", env, tmp / name, protocol="base2novel", seeds=[1, 2], shots=[1, 2],
                      methods=[{"name": "coop", "overrides": ["learner.name=coop"]}], **keys)
    return load_sweep(path, run_overrides=[f"data.cache_dir={tmp / (name + '_cache')}"])


def test_local_ray_sweep_gives_the_sequential_records(tmp_path, tiny_env, sweep_file):
    ray = pytest.importorskip("ray")
    from vlcat.sweeps.backends.ray import RayBackend

    seq = b2n_sweep(tmp_path, tiny_env, sweep_file, "seq")
    on_ray = b2n_sweep(tmp_path, tiny_env, sweep_file, "ray")
    assert len(plan_sweep(on_ray)) == 4
    backend = RayBackend(num_cpus=2, temp_dir=short_tmp())
    steps = run_sweep(on_ray, backend=backend)
    assert not ray.is_initialized()  # the local instance started for the sweep is gone
    assert sorted(s.action for s in steps) == ["trained"] * 4
    assert [s.run.rel for s in steps] == [r.rel for r in plan_sweep(on_ray)]  # plan order, whatever ran first
    expected = sequential(seq)
    assert len(expected) == 8 and outcome(Path(on_ray.output_dir)) == expected
    # Run again: everything is found finished and skipped, on Ray as sequentially.
    again = run_sweep(on_ray, backend=RayBackend(num_cpus=2, temp_dir=short_tmp()))
    assert [s.action for s in again] == ["skipped"] * 4


def test_failed_run_does_not_stop_the_others_on_either_backend(tmp_path, tiny_env, sweep_file, capsys):
    pytest.importorskip("ray")
    from vlcat.sweeps import base2novel_main

    # The coop method reads its images from an empty folder: its run fails when it loads the data, after the
    # plan was made; the zero-shot run must still finish, and the summary names the failed folder.
    methods = [{"name": "zeroshot", "overrides": ["learner.name=zeroshot"]},
               {"name": "coop", "overrides": ["learner.name=coop", f"data.root={tmp_path / 'no_images'}"]}]
    (tmp_path / "no_images").mkdir()
    for backend in ("sequential", "ray"):
        path = sweep_file(tmp_path / f"{backend}.yaml", tiny_env, tmp_path / backend, protocol="base2novel",
                          seeds=[1], shots=[1], methods=methods)
        ok, bad = (r.run_dir for r in plan_sweep(load_sweep(path)))
        extra = ["--backend", "ray"] if backend == "ray" else []
        code = base2novel_main(["-c", str(path), *extra])
        err = capsys.readouterr().err
        assert code == 1, err
        assert (ok / "record.json").is_file() and not (bad / "record.json").exists()
        assert "1 of 2 runs failed (the others finished):" in err
        summary = err.split("runs failed (the others finished):\n")[1].splitlines()
        assert len(summary) == 1 and summary[0].startswith(f"  {bad}: ")
        assert "failed 1;" in err  # the progress line counts it


def test_missing_ray_simulated_absent_gives_one_line_and_exit_2(tmp_path):
    """Ray is made unimportable in a fresh interpreter (sys.modules['ray'] = None), as on an install without
    the extra; ``--backend ray`` must then be a one-line error naming the install command, before any work."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from vlcat.sweeps import fewshot_main\n"
            f"sys.exit(fewshot_main(['--backend', 'ray', '-o', {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --backend ray needs Ray, which is not installed; install it with: pip install -e '.[ray]'"]
    assert not (tmp_path / "out").exists()
