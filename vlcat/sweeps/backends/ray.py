"""The Ray backend: each planned run is one Ray task, on a local instance started for the sweep or a cluster.

Every task writes its run folder exactly as the sequential backend does, so the sweep's folder must be on a
filesystem all nodes share (NFS, a cluster filesystem, or one machine). A task lost with its worker or node
is retried by Ray (``max_retries``); the retry reads the folder's state when it starts and resumes the run
from its last checkpoint. The run lock of the lost attempt is an ``flock``: the kernel drops it when the
process dies on this host; on a network filesystem the dead client's lock lasts until its lease expires,
so a retry waits up to ``lock_wait_s`` for it before giving up with the usual "in use" error.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from vlcat import rundir
from vlcat.errors import ConfigError, RunError
from vlcat.sweeps.execute import OnStep, StepResult, execute_run, one_line
from vlcat.sweeps.plan import PlannedRun, RunState
from vlcat.sweeps.stop import keep_signal_handlers

INSTALL_HINT = "pip install -e '.[ray]'"


def import_ray() -> Any:
    """Ray, or a one-line error saying how to install it (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--backend ray needs Ray, which is not installed; install it with: {INSTALL_HINT}") \
            from None
    return ray


def wait_for_lock(run_dir: Any, wait_s: float) -> None:
    """Return once nobody holds the run's lock (a lost attempt's lock may outlive it on a network filesystem)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with rundir.RunLock(run_dir):
                return
        except RunError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _task(run: PlannedRun, threads: int, lock_wait_s: float, env: dict[str, str]) -> StepResult:
    """Body of one Ray task (module level, so workers import it instead of unpickling a closure)."""
    import torch

    os.environ.update(env)
    torch.set_num_threads(threads)
    try:
        wait_for_lock(run.run_dir, lock_wait_s)
    except RunError as exc:
        return StepResult(run, "failed", [], None, 0.0, one_line(exc), time.time())
    step = execute_run(run)
    step.attempt = {"host": socket.gethostname(), "pid": os.getpid()}
    return step


class RayBackend:
    """``address``: None starts a local Ray instance for the sweep (stopped at its end); ``auto`` or
    ``ray://host:port`` (or ``host:port``) joins a running cluster, which is left running."""

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                 max_retries: int = 3, num_cpus: int | None = None, lock_wait_s: float = 180.0,
                 stop_wait_s: float = 60.0,
                 env: dict[str, str] | None = None, temp_dir: str | None = None) -> None:
        if cpus_per_run <= 0:
            raise ConfigError(f"--cpus-per-run must be > 0, got {cpus_per_run}")
        if gpus_per_run < 0:
            raise ConfigError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self.lock_wait_s = lock_wait_s
        self.stop_wait_s = stop_wait_s
        """Seconds a stopped sweep waits for its running tasks to save their checkpoints."""
        self.temp_dir = temp_dir
        """Session folder of a local instance (Ray's default: /tmp/ray)."""
        self.env = dict(env or {})
        """Environment variables set in every task (e.g. the sweep's LLM endpoint)."""
        self.parallel = 1
        """Runs at once (the cluster's CPUs, or GPUs, over a run's share), known once connected."""
        self.timings: list[dict[str, float]] = []
        """Per finished run: ``submitted``, ``started`` (in the task), ``inside_s``, ``received`` (driver)."""

    def connect(self) -> tuple[Any, bool]:
        """Ray, initialised; and whether this call started it (then the sweep shuts it down)."""
        ray = import_ray()
        if ray.is_initialized():
            return ray, False
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            if self.address is None:
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                         _temp_dir=self.temp_dir)
            else:
                ray.init(address=self.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = "a local Ray instance" if self.address is None else f"the Ray cluster at {self.address}"
            raise RunError(f"cannot start or join {where}: {str(exc).strip().splitlines()[0]}") from None
        return ray, True

    def run(self, runs: list[PlannedRun], states: list[RunState], on_step: OnStep | None) -> list[StepResult]:
        with keep_signal_handlers():  # ray.init's own SIGTERM handlers would end the driver without a word
            ray, started = self.connect()
        res = ray.cluster_resources()
        slots = [res.get("CPU", 1) / self.cpus_per_run] + ([res.get("GPU", 0) / self.gpus_per_run]
                                                           if self.gpus_per_run else [])
        self.parallel = max(1, int(min(slots)))
        try:
            return self._run(ray, runs, on_step)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, runs: list[PlannedRun], on_step: OnStep | None) -> list[StepResult]:
        opts = {"num_cpus": self.cpus_per_run, "num_gpus": self.gpus_per_run, "max_retries": self.max_retries,
                "retry_exceptions": False}
        remote = ray.remote(_task)
        threads = max(1, int(self.cpus_per_run))
        pending: dict[Any, int] = {}
        submitted: dict[int, float] = {}
        for i, run in enumerate(runs):
            submitted[i] = time.time()
            pending[remote.options(name=f"vlcat-run:{run.rel}", **opts).remote(run, threads, self.lock_wait_s,
                                                                       self.env)] = i
        steps: list[StepResult | None] = [None] * len(runs)
        try:
            try:
                self._wait_all(ray, runs, pending, submitted, steps, on_step)
            except KeyboardInterrupt:  # SIGINT/SIGTERM to the driver (see vlcat.sweeps.stop)
                self._stop_running(ray, pending)
                raise
        finally:
            for ref in pending:  # on_step raised or the driver was interrupted: stop what is still queued
                ray.cancel(ref, force=True)
        return [s for s in steps if s is not None]

    def _stop_running(self, ray: Any, pending: dict[Any, int]) -> None:
        """Queued tasks never start; running ones get a KeyboardInterrupt (Ray's non-forced cancel), which
        their trainer turns into a checkpoint, as a single run does on Ctrl-C. Waits up to ``stop_wait_s``
        for them to save; a second signal ends the wait (and the tasks are then killed)."""
        for ref in pending:
            ray.cancel(ref, force=False)
        ray.wait(list(pending), num_returns=len(pending), timeout=self.stop_wait_s)

    def _wait_all(self, ray: Any, runs: list[PlannedRun], pending: dict[Any, int], submitted: dict[int, float],
                  steps: list[StepResult | None], on_step: OnStep | None) -> None:
        """Collect the tasks as they end (``pending`` shrinks as they do, so a stop sees what is left)."""
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            try:
                step = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # retries spent, or the cluster went away
                step = StepResult(runs[i], "failed", [], None, 0.0, _ray_error(exc), time.time())
            received = time.time()
            if step.action != "failed" or step.seconds:
                self.timings.append({"submitted": submitted[i], "started": step.started,
                                     "inside_s": step.seconds, "received": received})
            steps[i] = step
            if on_step is not None:
                on_step(step)


def _ray_error(exc: BaseException) -> str:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first}"
