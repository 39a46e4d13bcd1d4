"""The embedded default: every run in this process, one after another, in plan order (no Ray needed)."""

from __future__ import annotations

import time
from collections.abc import Callable

from vlcat.errors import VlcatError
from vlcat.sweeps.execute import OnStep, StepResult, execute_run, one_line
from vlcat.sweeps.plan import PlannedRun, RunState


class SequentialBackend:
    name = "sequential"

    def __init__(self) -> None:
        self.before_run: Callable[[PlannedRun], object] | None = None
        """Called before each run that is not finished (the sweep's LLM check, :mod:`vlcat.sweeps.llm`); a
        :class:`VlcatError` from it fails that run, not the sweep."""

    def run(self, runs: list[PlannedRun], states: list[RunState], on_step: OnStep | None) -> list[StepResult]:
        steps: list[StepResult] = []
        for run, st in zip(runs, states, strict=True):
            step = self._before(run, st) or execute_run(run, st.state)
            steps.append(step)
            if on_step is not None:
                on_step(step)
        return steps

    def _before(self, run: PlannedRun, st: RunState) -> StepResult | None:
        if self.before_run is None or st.state in ("finished", "mismatch"):
            return None
        started, t0 = time.time(), time.perf_counter()
        try:
            self.before_run(run)
        except VlcatError as exc:
            return StepResult(run, "failed", [], None, time.perf_counter() - t0, one_line(exc), started)
        return None
