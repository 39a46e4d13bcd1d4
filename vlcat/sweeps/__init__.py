"""Sweeps: the grids of runs behind the papers' tables (few-shot, base-to-novel, cross-dataset, domain shift).

A sweep expands a small config (datasets x methods x shots x seeds, plus evaluations of each finished run
on other class subsets or datasets) into run folders whose names depend on those coordinates only, so the
same sweep finds its own earlier work: a run with a valid ``record.json`` made from the same config is
skipped, a run with a folder but no record is resumed, a missing run is trained. Each step is its own
atomic unit (``run_training`` writes the record last), so a sweep killed at any moment loses at most the
runs in progress, and rerunning it redoes nothing that finished.

Zero-shot methods (``learner.name=zeroshot``) use no training images, so they run once per dataset and
seed (``data.num_shots=-1``), not once per K; tables show them as the reference in every K.

The modules, one job each: ``schema`` (the sweep config), ``plan`` (runs, folders and their state, through
``vlcat.rundir``), ``execute`` (one run as a unit of work; ``run_sweep``), ``backends`` (``sequential``, the
embedded default, and ``ray``), ``stop`` (SIGINT/SIGTERM stop a sweep), ``progress`` and ``cli``. The names below
are the public interface.
"""

from vlcat.sweeps.execute import Backend, StepResult, SweepFailed, execute_run, failure_summary, run_sweep
from vlcat.sweeps.plan import (
    LABEL,
    RECORD,
    RUN_CONFIG,
    PlannedEval,
    PlannedRun,
    RunState,
    check_plan,
    config_differences,
    dataset_label,
    inspect_run,
    plan_sweep,
    read_record,
    run_folder,
)
from vlcat.sweeps.schema import (
    ALL_SHOTS,
    PROTOCOLS,
    SPLITS,
    SUBSETS,
    EvalTarget,
    MethodSpec,
    SweepConfig,
    load_sweep,
    validate_sweep,
)
from vlcat.sweeps.stop import SweepInterrupted

__all__ = [
    "ALL_SHOTS", "LABEL", "PROTOCOLS", "RECORD", "RUN_CONFIG", "SPLITS", "SUBSETS", "Backend", "EvalTarget",
    "MethodSpec", "PlannedEval", "PlannedRun", "RunState", "StepResult", "SweepConfig", "SweepFailed",
    "SweepInterrupted",
    "check_plan", "config_differences", "dataset_label", "execute_run", "failure_summary",
    "inspect_run", "load_sweep", "plan_sweep", "read_record", "run_folder", "run_sweep",
    "validate_sweep",
]
