"""The embedded default: every run in this process, one after another, in plan order (no Ray needed)."""

from __future__ import annotations

from vlcat.sweeps.execute import OnStep, StepResult, execute_run
from vlcat.sweeps.plan import PlannedRun, RunState


class SequentialBackend:
    name = "sequential"

    def run(self, runs: list[PlannedRun], states: list[RunState], on_step: OnStep | None) -> list[StepResult]:
        steps: list[StepResult] = []
        for run, st in zip(runs, states, strict=True):
            step = execute_run(run, st.state)
            steps.append(step)
            if on_step is not None:
                on_step(step)
        return steps
