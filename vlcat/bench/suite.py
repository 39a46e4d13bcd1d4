"""The offline benchmark suite: every protocol of the papers on the embedded world, one command each.

A protocol is an ordinary sweep config under ``configs/experiments/offline/`` (base2novel, fewshot, dg,
cross_dataset) over the world's tasks (``vlcat.synth.tasks``), so planning, resuming and the run folders are
the sweep machinery's (``vlcat.sweeps``); this module only adds what an offline suite needs around it:

- the learner list is generic: each method is a learner YAML (``configs/learners/<name>.yaml``) plus
  optional ``key=value`` overrides, so a new learner joins the suite by adding its YAML, no code;
- the suite writes the generated datasets it names (and only those) into the cache before planning;
- it refuses names that are not world tasks, and DG targets whose classes differ from the source's;
- it prints a time estimate before the first run and a progress bar over the runs, then the tables.
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlcat.config import CONFIG_DIR
from vlcat.errors import ConfigError, DataError
from vlcat.sweeps import MethodSpec, PlannedRun, SweepConfig, load_sweep, plan_sweep, validate_sweep
from vlcat.synth.tasks import SHIFTS, TASK_BY_CARD, TASKS, Task
from vlcat.tables import Cell, Table

SUITE_DIR = "experiments/offline"
PROTOCOLS = {
    "base2novel": "base2novel.yaml",
    "fewshot": "fewshot.yaml",
    "dg": "dg.yaml",
    "cross_dataset": "cross_dataset.yaml",
}
LEARNER_DIR = CONFIG_DIR / "learners"

# Seconds per unit of work, fitted to the timings in the run records of `tools/bench_offline.py --suite
# base2novel` on the 2-core CPU machine (OMP_NUM_THREADS=1, shared with other jobs): CoOp on 24 classes took
# 15-36 s for 360 steps, and 8-14 s for the features of 1,536 augmented views and 960 test images. They only
# size the estimate (test features are cached after the first seed, which it ignores, so it errs long);
# the progress bar's own rate takes over once runs finish.
SECONDS_PER_IMAGE = 0.004
"""Loading, augmenting and encoding one image with the toy CLIP (features of train views and test images)."""
SECONDS_PER_CLASS_STEP = 0.002
"""One optimisation step of a prompt learner per class in the batch's class list (the text tower's cost)."""
SECONDS_PER_RUN = 1.0
"""Fixed cost of a run: model load, config and record writing."""


def suite_config_path(protocol: str) -> Path:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown suite protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return CONFIG_DIR / SUITE_DIR / PROTOCOLS[protocol]


def known_learners() -> list[str]:
    return sorted(p.stem for p in LEARNER_DIR.glob("*.yaml"))


def parse_learner(spec: str) -> MethodSpec:
    """``[LABEL=]LEARNER [key=value ...]`` -> a sweep method.

    LEARNER is a name under configs/learners/ or a YAML path; LABEL (default: the YAML's stem) names the
    column and the run folders, so the same learner can appear twice with other overrides. Run-config keys
    always contain a dot, which tells ``label=learner`` from an override.
    """
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        raise ConfigError(f"learner spec {spec!r}: {exc}") from None
    if not words:
        raise ConfigError("empty learner spec; give a learner name, e.g. -l coop")
    first, overrides = words[0], words[1:]
    label = None
    if "=" in first and "." not in first.split("=", 1)[0]:
        label, first = first.split("=", 1)
    path = Path(first)
    if not (first.endswith((".yaml", ".yml")) and path.is_file()):
        path = LEARNER_DIR / f"{first}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown learner {first!r}: no {path}; known: {', '.join(known_learners())} "
                          "(or give a learner YAML path)")
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"learner spec {spec!r}: '{bad[0]}' must look like key=value (e.g. optim.lr=0.1)")
    return MethodSpec(name=label or path.stem, configs=[str(path.resolve())], overrides=overrides)


def task_of(dataset: str) -> Task:
    """The world task behind a card name (or a task name); anything else is not offline."""
    if dataset in TASK_BY_CARD:
        return TASK_BY_CARD[dataset]
    known = ", ".join(TASK_BY_CARD)
    raise DataError(f"unknown offline task {dataset!r}; the offline suite knows: {known}")


def _card_name(dataset: str) -> str:
    """Task names (``background``) are accepted for their cards (``synth_backgrounds``)."""
    if dataset in TASKS:
        return TASKS[dataset].card
    if dataset in SHIFTS:
        return SHIFTS[dataset].card
    return dataset


def _offline_datasets(override: str) -> str:
    """``datasets=[...]`` with task names turned into their cards, checked before the sweep checks them
    against every card (so an unknown name is reported as an unknown *offline* task)."""
    key, sep, value = override.partition("=")
    if not sep or key.strip() != "datasets":
        return override
    names = yaml.safe_load(value)
    if not isinstance(names, list):
        return override  # the sweep's own check words the error
    cards = [_card_name(str(n)) for n in names]
    for card in cards:
        task_of(card)
    return f"datasets=[{', '.join(cards)}]"


def check_suite(sweep: SweepConfig, protocol: str) -> None:
    """Every dataset is a world task; every DG target has exactly its source's classes."""
    sweep.datasets = [_card_name(d) for d in sweep.datasets]
    for t in sweep.eval_targets:
        if t.dataset is not None:
            t.dataset = _card_name(t.dataset)
    sources = [task_of(d) for d in sweep.datasets]
    targets = [task_of(t.dataset) for t in sweep.eval_targets if t.dataset is not None]
    if protocol == "dg":
        for src in sources:
            for tgt in targets:
                if tgt.classnames != src.classnames:
                    raise DataError(f"DG target {tgt.card} has other classes than its source {src.card} "
                                    f"({len(tgt.classes)} vs {len(src.classes)}); a domain shift must keep the "
                                    "source's classes (use the cross_dataset protocol for other tasks)")


def load_suite(protocol: str, learners: list[str] | None = None, overrides: list[str] | None = None,
               run_overrides: list[str] | None = None) -> SweepConfig:
    """The protocol's sweep with the given learner list (default: the config's), checked for offline use.

    ``shots=[...]`` picks a subset of the protocol's K and keeps their ``shot_overrides`` (the sweep itself
    would refuse epochs given for a K it no longer runs).
    """
    overrides = [_offline_datasets(o) for o in (overrides or [])]
    shots = [o for o in overrides if o.split("=", 1)[0].strip() == "shots"]
    sweep = load_sweep(suite_config_path(protocol), [o for o in overrides if o not in shots], run_overrides)
    if shots:
        value = yaml.safe_load(shots[-1].split("=", 1)[1])
        if not isinstance(value, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in value):
            raise ConfigError(f"{shots[-1]!r}: shots must be a list of integers, e.g. shots=[1,2]")
        sweep.shots = value
        sweep.shot_overrides = {k: v for k, v in sweep.shot_overrides.items() if k in value}
    if learners:
        sweep.methods = [parse_learner(s) for s in learners]
    validate_sweep(sweep)
    check_suite(sweep, protocol)
    return sweep


def suite_cards(sweep: SweepConfig) -> list[str]:
    """Every generated dataset the sweep reads: its datasets and its evaluation targets."""
    return list(dict.fromkeys([*sweep.datasets, *(t.dataset for t in sweep.eval_targets if t.dataset)]))


# ----- time estimate -------------------------------------------------------------------------------------

def _n_classes(task: Task, subsample: str) -> int:
    n = len(task.classes)
    return {"all": n, "base": math.ceil(n / 2), "novel": n - math.ceil(n / 2)}[subsample]


def estimate_seconds(run: PlannedRun) -> float:
    """A rough cost model of one run (see the constants above); exact enough to say minutes or hours."""
    cfg = run.config
    task = task_of(cfg.data.dataset)
    sub = cfg.data.subsample_classes
    n_cls = _n_classes(task, sub)
    images = task.test_per_class * n_cls
    for ev in run.evals:
        ev_task = task_of(ev.dataset) if ev.dataset else task
        images += ev_task.test_per_class * _n_classes(ev_task, ev.subsample)
    seconds = SECONDS_PER_RUN
    if run.shots is not None:
        n_train = (n_cls * run.shots) if run.shots > 0 else n_cls * 16
        views = max(1, cfg.train.aug_views)
        steps = cfg.optim.max_epoch * math.ceil(n_train / cfg.optim.batch_size)
        images += n_train * views
        seconds += steps * n_cls * SECONDS_PER_CLASS_STEP
    return seconds + images * SECONDS_PER_IMAGE


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class SuitePlan:
    sweep: SweepConfig
    runs: list[PlannedRun]
    todo: list[bool]
    """Per run: whether it still has work (not finished)."""
    estimate_s: float


def plan_suite(sweep: SweepConfig) -> SuitePlan:
    """The sweep's runs, which of them still have work, and the estimated seconds of that work."""
    from vlcat.sweeps import check_plan

    runs = plan_sweep(sweep)
    todo = [st.state != "finished" for st in check_plan(runs)]
    return SuitePlan(sweep, runs, todo, sum(estimate_seconds(r) for r, t in zip(runs, todo, strict=True) if t))


def run_suite(plan: SuitePlan, data_root: Path, *, progress: bool = True,
              per_class: tuple[int, int, int] | None = None, backend: Any = None) -> float:
    """Write the datasets, run (or resume) every run under a progress bar; returns the wall seconds.

    ``per_class`` (train, val, test images per class) shrinks the generated datasets, for CI; by default
    each task is written at its card's size.
    """
    from tqdm import tqdm

    from vlcat.sweeps import StepResult, run_sweep
    from vlcat.synth.dataset import build_synth_datasets

    t0 = time.perf_counter()
    sizes = {} if per_class is None else dict(zip(("n_train_per_class", "n_val_per_class", "n_test_per_class"),
                                                  per_class, strict=True))
    build_synth_datasets(data_root, suite_cards(plan.sweep), **sizes)
    bar = tqdm(total=len(plan.runs), initial=len(plan.runs) - sum(plan.todo), unit="run", disable=not progress,
               dynamic_ncols=True)

    def step(s: StepResult) -> None:
        if s.action != "skipped":
            acc = "" if s.accuracy is None else f" {s.accuracy:.1f}"
            bar.set_postfix_str(f"{s.run.method} {s.run.dataset} seed {s.run.seed}{acc}", refresh=False)
            bar.update(1)

    try:
        run_sweep(plan.sweep, runs=plan.runs, on_step=step, backend=backend)
    finally:
        bar.close()
    return time.perf_counter() - t0


def fewshot_summary(tables: list[Table]) -> Table | None:
    """CoOp's Fig. 3 in one table: the average over tasks per K (rows) and method (columns)."""
    per_k = [t for t in tables if t.slug.startswith("fewshot_") and t.slug.endswith("shots")]
    if not per_k:
        return None
    methods = list(dict.fromkeys(m for t in per_k for m in t.columns))
    rows = []
    for t in per_k:
        avg = dict(zip(t.columns, t.rows[-1][1], strict=True))
        rows.append((t.title.rsplit(", ", 1)[-1], [avg.get(m, Cell()) for m in methods]))
    notes = ["per-task numbers (mean ± std over seeds) in the tables above"]
    if any(c.mark for _, cells in rows for c in cells):
        notes.insert(0, "marks as in the tables above (* fewer tasks, † fewer seeds)")
    return Table("Few-shot accuracy (%), average over the tasks per K", "fewshot_average", methods, rows, notes)


def suite_markdown(protocol: str, sweep: SweepConfig, results: list | None = None) -> str:
    """The protocol's tables only (a sweep folder may hold others): per task, the average, and for few-shot
    a summary of the averages per K. ``results`` are the sweep's, when the caller has read them already."""
    from vlcat.results import load_results
    from vlcat.tables import base2novel_tables, fewshot_tables, to_markdown, transfer_tables

    if results is None:
        results, _ = load_results(sweep.output_dir)
    paired = ""
    if protocol == "base2novel":
        tables = base2novel_tables(results)
        paired = paired_section(results)
    elif protocol == "fewshot":
        tables = fewshot_tables(results)
        if any(t.slug != "zeroshot" for t in tables):  # zero-shot is a column of every K's table already
            tables = [t for t in tables if t.slug != "zeroshot"]
        summary = fewshot_summary(tables)
        tables += [summary] if summary else []
    else:
        tables = transfer_tables(results)
    # The summary's rows are shot counts, not datasets: name its first column so.
    text = "\n".join(to_markdown(t).replace("| Dataset |", "| Shots |", 1) if t.slug == "fewshot_average"
                      else to_markdown(t) for t in tables)
    return text + (f"\n{paired}" if paired else "")


PAIRED_FILE = "paired_vs_coop.md"
"""Where ``tools/bench_offline.py --suite base2novel`` writes the paired section in the report folder."""


def paired_section(results: list) -> str:
    """"Paired against CoOp" as Markdown (heading included), or "" when the sweep has one method or no CoOp.

    Base-to-novel only: that is where a new learner is read against CoOp, pair by pair."""
    from vlcat.bench.compare_sweeps import against, cells_of

    if len({r.method for r in results}) < 2:
        return ""
    table = against(cells_of(results))
    return f"### Paired against CoOp, per (task, seed)\n\n{table}\n" if table else ""
