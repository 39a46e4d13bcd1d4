"""The sweep's one progress line: runs done / running / failed, elapsed, estimated time left.

The estimate is the mean time of the runs that did work so far (skipped runs cost nothing) times the runs
left, divided by how many run at once (``parallel``: 1 sequentially, the Ray workers otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vlcat.sweeps.execute import StepResult


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(self, total: int, parallel: int | Callable[[], int] = 1) -> None:
        self.total = total
        self._parallel = parallel
        self.t0 = time.perf_counter()
        self.done = 0
        self.failed = 0
        self.worked_s: list[float] = []

    def update(self, step: StepResult) -> None:
        self.done += 1
        self.failed += step.action == "failed"
        if step.action in ("trained", "resumed"):
            self.worked_s.append(step.seconds)

    @property
    def parallel(self) -> int:
        """Runs at once; a callable is asked each time (Ray knows its workers only once it is connected)."""
        return max(1, self._parallel() if callable(self._parallel) else self._parallel)

    @property
    def running(self) -> int:
        return min(self.parallel, self.total - self.done)

    def eta_s(self) -> float | None:
        if not self.worked_s:
            return None
        left = self.total - self.done
        return sum(self.worked_s) / len(self.worked_s) * left / self.parallel

    def line(self) -> str:
        eta = self.eta_s()
        return (f"done {self.done}/{self.total}, running {self.running}, failed {self.failed}; "
                f"elapsed {_clock(time.perf_counter() - self.t0)}, left ~{'?' if eta is None else _clock(eta)}")
