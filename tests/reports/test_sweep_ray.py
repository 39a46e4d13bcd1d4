"""Sweeps on real Ray (a local instance, and a two-node cluster on this machine): same records as the
sequential backend, and a run lost with its node is retried and resumed. Ray is an optional extra."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


@pytest.fixture
def short_tmp():
    """Makes Ray session folders with short paths (they hold unix sockets, whose paths are limited to ~100
    bytes), and deletes them at the end of the test."""
    made: list[str] = []

    def make() -> str:
        made.append(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def b2n_sweep(tmp: Path, env: dict, sweep_file, name: str, extra: tuple[str, ...] = (), **keys):
    keys = {"seeds": [1, 2], "shots": [1, 2], **keys}
    path = sweep_file(tmp / f"{name}.yaml", env, tmp / name, protocol="base2novel",
                      methods=[{"name": "coop", "overrides": ["learner.name=coop"]}], **keys)
    return load_sweep(path, run_overrides=[f"data.cache_dir={tmp / (name + '_cache')}", *extra])


def test_local_ray_sweep_gives_the_sequential_records(tmp_path, tiny_env, sweep_file, short_tmp):
    import ray  # the test setup installs the [ray] extra: a missing Ray fails here, it is not skipped

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
    import ray  # noqa: F401  installed by the test setup; missing must fail, not skip

    from vlcat.cli.sweeps import base2novel_main

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
            "from vlcat.cli.sweeps import fewshot_main\n"
            f"sys.exit(fewshot_main(['--backend', 'ray', '-o', {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --backend ray needs Ray, which is not installed; install it with: pip install -e '.[ray]'"]
    assert not (tmp_path / "out").exists()


# ----- a two-node cluster on this machine -----------------------------------------------------------------

def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (from /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        out[int(d.name)] = (ppid, cmd)
    return out


def _tree(roots: set[int]) -> set[int]:
    """``roots`` and all their descendants."""
    procs, found = _procs(), set(roots)
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _kill(pids: set[int]) -> None:
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_nodes(short_tmp):
    """A head node and a second node (1 CPU each) in their own session folder; every process started for
    them is killed at the end, found by that folder and by parentage (never ``ray stop``, which would stop
    other users' Ray on this machine too)."""
    import ray  # noqa: F401  installed by the test setup; missing must fail, not skip
    tmp = short_tmp()
    port, nm_port = _free_port(), _free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1",
           "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    started: set[int] = set()
    try:
        subprocess.run([ray_bin, "start", "--head", "--port", str(port), "--temp-dir", tmp,
                        "--include-dashboard=false", *common], env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([ray_bin, "start", "--address", f"127.0.0.1:{port}", "--node-manager-port", str(nm_port),
                        *common], env=env, check=True, capture_output=True, timeout=120)
        started = {pid for pid, (_, cmd) in _procs().items() if tmp in cmd}
        second = {pid for pid, (_, cmd) in _procs().items() if "raylet" in cmd
                  and f"--node_manager_port={nm_port}" in cmd}
        assert len(second) == 1, "the second node's raylet was not found"
        yield {"address": f"127.0.0.1:{port}", "second_raylet": second.pop(), "env": env}
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _kill(_tree(started | {pid for pid, (_, cmd) in _procs().items() if tmp in cmd}))


def test_node_killed_mid_run_is_retried_and_resumed_on_a_two_node_cluster(two_nodes, tmp_path, tiny_env, sweep_file,
                                                                             monkeypatch):
    import threading

    from vlcat.sweeps.backends.ray import RayBackend

    for key in ("PYTHONPATH", "RAY_AUTH_MODE"):
        monkeypatch.setenv(key, two_nodes["env"][key])
    # Long enough (many 1-step epochs, one checkpoint each) to be caught between two checkpoints.
    long = ["optim.max_epoch=150"]
    seq, on_ray = (b2n_sweep(tmp_path, tiny_env, sweep_file, name, shots=[2], extra=long) for name in ("seq", "ray"))
    runs = plan_sweep(on_ray)
    assert len(runs) == 2
    result: dict = {}

    def sweep_thread() -> None:
        try:
            result["steps"] = run_sweep(on_ray, runs=runs, backend=RayBackend(two_nodes["address"]))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            result["error"] = exc

    thread = threading.Thread(target=sweep_thread, daemon=True)
    thread.start()
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        node = _tree({two_nodes["second_raylet"]})
        for run in runs:
            holder = (run.run_dir / ".vlcat.lock")
            try:
                pid = int(holder.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
            if pid in node and (run.run_dir / "checkpoint.pt").is_file() and not (run.run_dir / "record.json").exists():
                victim = run
                _kill(node)  # the whole second node: its raylet and every worker on it
                break
        time.sleep(0.05)
    assert victim is not None, "the second node never held a run with a checkpoint"
    killed_at = [json.loads(line)["global_step"] for line in (victim.run_dir / "metrics.jsonl").read_text().splitlines()
                 if line.strip().startswith("{")]
    thread.join(timeout=300)
    assert not thread.is_alive(), "the sweep did not finish after the node died"
    assert "error" not in result, result.get("error")
    by_run = {s.run.rel: s for s in result["steps"]}
    assert by_run[victim.rel].action == "resumed"  # the retry found the lost attempt's folder and continued it
    assert killed_at and max(killed_at) > 0  # ...which had trained steps to continue from
    assert all(s.action in ("trained", "resumed") for s in result["steps"])
    assert outcome(Path(on_ray.output_dir)) == sequential(seq)


@pytest.mark.llm
def test_catalyst_runs_of_a_ray_sweep_share_the_sweeps_endpoint(llm_server, tmp_path, tiny_env, sweep_file,
                                                                  monkeypatch, capsys):
    """No llm.base_url: the sweep decides the endpoint once (here the running server of the state file) and
    its Ray tasks use that URL, whatever their node's own state file says."""
    import ray  # noqa: F401  installed by the test setup; missing must fail, not skip

    from vlcat.cli.sweeps import base2novel_main

    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path / "vc"))
    state = tmp_path / "vc" / "llm" / "server.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"url": llm_server.url, "pid": llm_server.pid, "model": llm_server.model,
                                 "served_name": llm_server.served_name, "auth": True}))
    cat = ["learner.name=coop", "catalyst.enabled=true", "catalyst.epochs=[1]", "optim.max_epoch=2",
           "catalyst.num_candidates=4", "llm.max_tokens=96", "llm.max_retries=0", "llm.timeout=120",
           "llm.start_server=false"]
    path = sweep_file(tmp_path / "cat.yaml", tiny_env, tmp_path / "cat", protocol="base2novel", seeds=[1, 2],
                      shots=[1], methods=[{"name": "coop_cat", "overrides": cat}])
    assert base2novel_main(["-c", str(path), "--backend", "ray"]) == 0, capsys.readouterr().err
    assert f"LLM endpoint of the sweep's catalyst runs: {llm_server.url}" in capsys.readouterr().err
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "cat").rglob("record.json"))]
    assert len(records) == 2
    for rec in records:
        assert (rec["catalyst"]["endpoint"]["source"], rec["catalyst"]["endpoint"]["url"]) == ("sweep", llm_server.url)
        assert rec["catalyst"]["stages"] == 1 and rec["catalyst"]["schedule"] == [1]
    assert llm_server.healthy()  # a server the sweep did not start is left running
