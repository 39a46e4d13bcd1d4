"""One run of a sweep as one unit of work, and ``run_sweep``, which hands the plan to a backend.

``execute_run`` is what every backend runs for a planned run, in-process (sequential) or inside a Ray task:
it reads the folder's state at the moment it starts (a retried Ray task finds the folder its lost attempt
left and resumes it from its checkpoint), trains or resumes or skips, writes the sweep label, and runs the
evaluations. A failure becomes a ``failed`` step with a one-line error instead of an exception, so a
failed run never stops the others; ``run_sweep`` raises one :class:`SweepFailed` naming them at the end.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from omegaconf import OmegaConf

from vlcat import rundir
from vlcat.errors import RunError, VlcatError
from vlcat.sweeps.plan import LABEL, PlannedRun, RunState, _eval_done, check_plan, inspect_run, plan_sweep
from vlcat.sweeps.schema import SweepConfig
from vlcat.sweeps.stop import Received, SweepInterrupted, interrupted_message, signals_stop_the_sweep


@dataclass
class StepResult:
    run: PlannedRun
    action: str
    """skipped | trained | resumed | failed."""
    evaluated: list[str]
    """Names of the evaluations done in this step (finished ones are skipped too)."""
    accuracy: float | None
    seconds: float
    """Time inside ``execute_run`` (for a Ray task: inside the task)."""
    error: str | None = None
    """One line, for a failed run."""
    started: float = 0.0
    """``time.time()`` when the run started (the Ray backend measures its overhead from it)."""
    attempt: dict[str, object] = field(default_factory=dict)
    """Where it ran (host, pid); filled by the backend."""


def one_line(exc: BaseException) -> str:
    """A failed run's error as one line: a vlcat error is its message; anything else says where it came from."""
    if isinstance(exc, VlcatError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    msg = str(exc).strip().splitlines()
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {msg[0] if msg else ''}{where}"


def execute_run(run: PlannedRun, state: str | None = None) -> StepResult:
    """Train (or resume, or skip) one planned run and do its evaluations; errors become a failed step.

    ``state`` is the folder's state from the plan check; None reads it now (what a Ray task does, since
    a retry must see what its lost attempt left).
    """
    import vlcat.catalyst  # noqa: F401  registers the catalyst with the run loop
    from vlcat.train.run import evaluate_run, run_training
    from vlcat.train.trainer import RunInterrupted

    started, t0 = time.time(), time.perf_counter()
    action = "failed"
    done: list[str] = []
    try:
        st = state or inspect_run(run).state
        if st == "mismatch":
            raise RunError(f"{run.run_dir} was made with a different config")
        if st == "finished":
            action = "skipped"
            record = rundir.read_record(run.run_dir)
        else:
            action = "trained" if st == "new" else "resumed"
            record = run_training(run.config, resume=st != "new")
        label_path = run.run_dir / LABEL
        if not label_path.is_file() or rundir.read_json(label_path) != run.label:
            rundir.atomic_write_text(label_path, json.dumps(run.label, indent=2))
        for ev in run.evals:
            if action == "skipped" and _eval_done(run.run_dir, ev):
                continue
            evaluate_run(run.run_dir, split=ev.split, subsample=ev.subsample, dataset=ev.dataset, root=ev.root,
                         name=ev.name, overrides=list(ev.overrides))
            done.append(ev.name)
    except RunInterrupted:  # a stop signal: the run saved a checkpoint and the sweep must stop, not go on
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is reported and never stops the others
        return StepResult(run, "failed", done, None, time.perf_counter() - t0, one_line(exc), started)
    acc = ((record or {}).get("metrics", {}).get("test") or {}).get("accuracy")
    return StepResult(run, action, done, acc, time.perf_counter() - t0, None, started)


OnStep = Callable[[StepResult], None]


class Backend(Protocol):
    """Runs the planned runs and calls ``on_step`` once per run as it ends, in any order; returns the steps in
    plan order. An exception from ``on_step`` stops the sweep (what finished stays finished)."""

    name: str

    def run(self, runs: list[PlannedRun], states: list[RunState], on_step: OnStep | None) -> list[StepResult]: ...


class SweepFailed(RunError):
    """Some runs failed (the others ran to the end); ``steps`` holds every run's step."""

    def __init__(self, steps: list[StepResult]) -> None:
        self.steps = steps
        failed = [s for s in steps if s.action == "failed"]
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(f"{len(failed)} of {len(steps)} runs failed: {first.run.run_dir}: {first.error}{more}")

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.action == "failed"]


def failure_summary(steps: list[StepResult]) -> list[str]:
    """One line per failed run: its folder and its one-line error."""
    return [f"  {s.run.run_dir}: {s.error}" for s in steps if s.action == "failed"]


def run_sweep(sweep: SweepConfig, *, runs: list[PlannedRun] | None = None, on_step: OnStep | None = None,
              backend: Backend | None = None) -> list[StepResult]:
    """Run (or resume) the whole sweep (``runs``: its plan, if already made) on ``backend`` (default: one run
    after another in this process); ``on_step`` is called after each run and its evaluations.

    An exception from ``on_step`` stops the sweep like any interruption would: what finished stays finished.
    A failed run does not stop the others; :class:`SweepFailed` is raised at the end if any failed. SIGINT or
    SIGTERM stops the sweep (see :mod:`vlcat.sweeps.stop`): the run in progress checkpoints, no new run
    starts, and :class:`SweepInterrupted` (exit status 130) says how to resume.
    """
    from vlcat import stopping
    from vlcat.sweeps.backends.sequential import SequentialBackend
    from vlcat.train.trainer import RunInterrupted

    runs = plan_sweep(sweep) if runs is None else runs
    states = check_plan(runs)
    out = Path(sweep.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_text(out / "sweep.yaml", OmegaConf.to_yaml(OmegaConf.structured(sweep)))
    backend = backend or SequentialBackend()
    finished: list[StepResult] = []

    def step_done(step: StepResult) -> None:
        finished.append(step)
        if on_step is not None:
            on_step(step)

    received = Received()
    try:
        with signals_stop_the_sweep() as received:
            steps = backend.run(runs, states, step_done)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        if received.signum is not None or isinstance(exc, KeyboardInterrupt):
            stopping.shield()  # a signal stopped the sweep: a second one must not cut its last line short
        # Sequential runs go in plan order, so the one in progress is the first without a step.
        current = runs[len(finished)].rel if backend.name == "sequential" and len(finished) < len(runs) else None
        # Counted on disk: on Ray a task may finish while the stop waits for the others, before the driver
        # collects its result, and the line must say what a rerun will find.
        done = sum(rundir.folder_state(r.run_dir) == "finished" for r in runs)
        raise SweepInterrupted(interrupted_message(received.name, done, len(runs), current,
                                                   isinstance(exc, RunInterrupted))) from None
    if any(s.action == "failed" for s in steps):
        raise SweepFailed(steps)
    return steps
