"""Sequential against Ray on the same 8-run offline sweep (``tools/bench_sweep.py``): the measurement.

Ray's overhead per run is a worker slot's time that was not the run: for each run, the time from the end of
the previous run on the same worker (or the sweep's start) to the driver receiving its result, minus the
run's time inside the task. A worker's first run pays the worker's start and the imports (torch, vlcat).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def compare_backends(epochs: int = 5, cpus: int = 2, per_class: tuple[int, int, int] = (8, 4, 8),
                     work_dir: str | Path | None = None) -> dict[str, Any]:
    """Wall times of the sweep on each backend with the same CPU budget, their ratios and Ray's overhead.

    Sequential is one process with ``cpus`` threads, Ray ``cpus`` workers of one thread each, and the control
    ``sequential_1thread`` one thread; each writes its own sweep folder and feature cache.
    """
    import torch

    from vlcat.bench.suite import load_suite, suite_cards
    from vlcat.sweeps import plan_sweep, run_sweep
    from vlcat.sweeps.backends.ray import RayBackend
    from vlcat.synth.dataset import build_synth_datasets

    work = Path(work_dir or tempfile.mkdtemp(prefix="bench_sweep_"))
    data = work / "data"
    tasks = ["synth_shapes", "synth_shape_clutter", "synth_backgrounds", "synth_photo_condition"]

    def sweep(name: str) -> Any:
        return load_suite("base2novel", ["coop"], [f"datasets=[{','.join(tasks)}]", "seeds=[1,2]",
                                                   f"output_dir={work / name}"],
                          [f"data.root={data}", f"data.cache_dir={work / (name + '_cache')}",
                           f"optim.max_epoch={epochs}"])

    seq, on_ray, one = sweep("sequential"), sweep("ray"), sweep("sequential_1thread")
    runs = plan_sweep(seq)
    assert len(runs) == 8, len(runs)
    build_synth_datasets(data, suite_cards(seq), **dict(zip(("n_train_per_class", "n_val_per_class",
                                                             "n_test_per_class"), per_class, strict=True)))

    threads = torch.get_num_threads()
    torch.set_num_threads(cpus)
    t0 = time.perf_counter()
    steps_seq = run_sweep(seq)
    wall_seq = time.perf_counter() - t0
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    steps_one = run_sweep(one)
    wall_one = time.perf_counter() - t0
    torch.set_num_threads(threads)

    backend = RayBackend(num_cpus=cpus, cpus_per_run=1, temp_dir=tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    t_start = time.time()
    t0 = time.perf_counter()
    steps_ray = run_sweep(on_ray, backend=backend)
    wall_ray = time.perf_counter() - t0

    # Overhead per run: worker-slot time around the run (see the module docstring).
    by_worker: dict[object, list] = {}
    received = {id(s): t["received"] for s, t in zip(sorted(steps_ray, key=lambda s: s.started),
                                                      sorted(backend.timings, key=lambda t: t["started"]),
                                                      strict=True)}
    for s in steps_ray:
        by_worker.setdefault(s.attempt.get("pid"), []).append(s)
    overhead, first, later = [], [], []
    for worker_steps in by_worker.values():
        prev_end = t_start
        for i, s in enumerate(sorted(worker_steps, key=lambda s: s.started)):
            o = (received[id(s)] - prev_end) - s.seconds
            overhead.append(o)
            (first if i == 0 else later).append(o)
            prev_end = received[id(s)]
    inside = [s.seconds for s in steps_ray]
    result = {
        "runs": len(runs), "epochs": epochs, "cpus": cpus,
        "sequential_wall_s": round(wall_seq, 2), "ray_wall_s": round(wall_ray, 2),
        "ratio_sequential_over_ray": round(wall_seq / wall_ray, 3),
        "sequential_1thread_wall_s": round(wall_one, 2),
        "ratio_sequential_1thread_over_ray": round(wall_one / wall_ray, 3),
        "sequential_run_s_mean": round(statistics.mean(s.seconds for s in steps_seq), 3),
        "sequential_1thread_run_s_mean": round(statistics.mean(s.seconds for s in steps_one), 3),
        "ray_run_inside_task_s_mean": round(statistics.mean(inside), 3),
        "ray_overhead_per_run_s_mean": round(statistics.mean(overhead), 3),
        "ray_overhead_first_run_per_worker_s_mean": round(statistics.mean(first), 3),
        "ray_overhead_later_runs_s_mean": round(statistics.mean(later), 3) if later else None,
        "ray_workers": len(by_worker),
        "work_dir": str(work),
    }
    return result
