"""Where a sweep's runs execute: ``sequential`` (this process, one after another) or ``ray`` (one Ray task per
run). Both run :func:`vlcat.sweeps.execute.execute_run` and write the run folders the same way."""

from __future__ import annotations

BACKENDS = ("sequential", "ray")
