"""The plan of a sweep: every run with its validated config and folder, and each folder's state.

Run folders are named by the sweep's coordinates only, so the same sweep finds its own earlier work; what
a folder holds is asked of ``vlcat.rundir`` (the one owner of run-folder state), plus "mismatch" when the
folder was made from another config, which only the plan can tell.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vlcat import rundir
from vlcat.config import RunConfig, load_config, parse_overrides, validate
from vlcat.errors import ConfigError, RunError
from vlcat.learners import get_learner
from vlcat.sweeps.schema import ALL_SHOTS, EvalTarget, SweepConfig

RECORD = rundir.RECORD
RUN_CONFIG = rundir.CONFIG
LABEL = rundir.LABEL


# ----- the plan -----------------------------------------------------------------------------------------

def dataset_label(dataset: str) -> str:
    """Folder-safe short name of a dataset argument: a card name, a card file, ``folder:``/``csv:`` specs."""
    spec = dataset.split(":", 1)[1] if re.match(r"^(folder|csv):", dataset) else dataset
    if "/" in spec or "\\" in spec or spec.endswith((".yaml", ".yml", ".csv")):
        spec = Path(spec.rstrip("/\\")).stem
    spec = re.sub(r"[^A-Za-z0-9_.+\-]", "_", spec).lstrip(".")
    return spec or "dataset"


@dataclass(frozen=True)
class PlannedEval:
    name: str
    dataset: str | None
    subsample: str
    split: str
    root: str | None
    overrides: tuple[str, ...]


@dataclass
class PlannedRun:
    method: str
    dataset: str
    shots: int | None
    """None for zero-shot methods (no training images)."""
    seed: int
    run_dir: Path
    config: RunConfig
    evals: list[PlannedEval]
    protocol: str

    @property
    def label(self) -> dict[str, Any]:
        return {"method": self.method, "dataset": self.dataset, "shots": self.shots, "seed": self.seed,
                "protocol": self.protocol}

    @property
    def rel(self) -> str:
        return "/".join(self.run_dir.parts[-3:])


def run_folder(out: Path, method: str, dataset: str, shots: int | None, seed: int, base: bool) -> Path:
    """``<out>/<method>/<dataset>/shots<K>_seed<s>[_base]``; zero-shot runs have no ``shots<K>_`` part."""
    k = "" if shots is None else ("shotsall_" if shots == ALL_SHOTS else f"shots{shots}_")
    return out / method / dataset_label(dataset) / f"{k}seed{seed}{'_base' if base else ''}"


def _plan_evals(sweep: SweepConfig, dataset: str) -> list[PlannedEval]:
    targets = list(sweep.eval_targets)
    if sweep.protocol == "base2novel":
        targets.insert(0, EvalTarget(subsample="novel"))
    out: dict[str, PlannedEval] = {}
    for t in targets:
        ds_name = dataset_label(t.dataset or dataset)
        name = t.name or f"{ds_name}_{t.subsample}_{t.split}"
        # The test split is never few-shot sampled, and evaluation-only datasets (ImageNet-A/R/Sketch/V2)
        # have no training split to sample from, so evaluate on the full split lists.
        extra = ("data.num_shots=-1",) if t.split == "test" else ()
        out.setdefault(name, PlannedEval(name, t.dataset, t.subsample, t.split, t.root, extra))
    return list(out.values())


def plan_sweep(sweep: SweepConfig) -> list[PlannedRun]:
    """Every run of the sweep with its validated config, in a fixed order, without touching the disk.

    Configs are built by merging overrides onto one validated base per method, which is much faster
    than a full ``load_config`` per run and equivalent for the keys the sweep changes.
    """
    out = Path(sweep.output_dir)
    labels: dict[str, str] = {}
    for d in sweep.datasets:
        other = labels.setdefault(dataset_label(d), d)
        if other != d:
            raise ConfigError(f"datasets {other!r} and {d!r} would share the folder {dataset_label(d)!r}")
    base2novel = sweep.protocol == "base2novel"
    subsample = ["data.subsample_classes=base"] if base2novel else []
    runs: list[PlannedRun] = []
    validated: set[tuple[Any, ...]] = set()
    for method in sweep.methods:
        files = list(sweep.base_config) + list(method.configs)
        base_cfg = load_config(files or None, list(sweep.overrides) + list(method.overrides) + subsample)
        cls = get_learner(base_cfg.learner.name).cls
        zero_shot = cls.trained_by == "none"  # needs no training images
        base_node = OmegaConf.structured(base_cfg)
        for dataset in sweep.datasets:
            evals = _plan_evals(sweep, dataset)
            if not cls.scores_new_classes:  # e.g. a linear probe: its base-to-novel row has Base only
                evals = [e for e in evals if e.subsample != "novel"]
            for shots in [None] if zero_shot else sweep.shots:
                extra = list(sweep.shot_overrides.get(shots, [])) if shots is not None else []
                extra += list(sweep.dataset_overrides.get(dataset, []))
                layered = extra + list(method.overrides)
                axes = [f"data.dataset={dataset}", f"data.num_shots={ALL_SHOTS if shots is None else shots}"]
                try:
                    cfg: RunConfig = OmegaConf.to_object(  # type: ignore[assignment]
                        OmegaConf.merge(base_node, parse_overrides(layered + axes)))
                except OmegaConfBaseException as exc:
                    raise ConfigError(f"method {method.name}, dataset {dataset}, shots {shots}: "
                                      f"{str(exc).splitlines()[0]}") from None
                key = (method.name, tuple(extra))
                # Without extra overrides the config is the validated base plus the axes, which the sweep
                # schema checked already; validate() is slow, so only new override combinations pay for it.
                if extra and key not in validated:
                    validate(cfg)
                    validated.add(key)
                for seed in sweep.seeds:
                    run_cfg = copy.deepcopy(cfg)
                    run_cfg.train.seed = seed
                    run_dir = run_folder(out, method.name, dataset, shots, seed, base2novel)
                    run_cfg.output_dir = str(run_dir)
                    runs.append(PlannedRun(method.name, dataset, shots, seed, run_dir, run_cfg, evals,
                                           sweep.protocol))
    return runs


# ----- state of a run folder ----------------------------------------------------------------------------



config_differences = rundir.config_differences
"""The sweep asks the same question as ``--resume`` of a single run (see :mod:`vlcat.rundir`)."""


read_record = rundir.read_record


@dataclass
class RunState:
    state: str
    """new | unfinished | finished | broken (unreadable record: resumed) | mismatch (made from another config)."""
    differences: list[str] = field(default_factory=list)


def inspect_run(run: PlannedRun) -> RunState:
    """The folder's state from ``vlcat.rundir``, plus 'mismatch' when it was made from another config."""
    d = run.run_dir
    state = rundir.folder_state(d)
    if state == "foreign":
        return RunState("mismatch", ["not a vlcat run folder"])
    if state == "finished":
        diffs = config_differences(read_record(d).get("config"), run.config)
        return RunState("mismatch", diffs) if diffs else RunState("finished")
    if state == "unfinished" and not rundir.completed_a_step(d):
        return RunState("new")  # nothing to continue or lose: trained afresh under today's config
    if (d / RUN_CONFIG).is_file():
        try:
            saved = yaml.safe_load((d / RUN_CONFIG).read_text())
        except (OSError, yaml.YAMLError):
            return RunState("mismatch", [f"{RUN_CONFIG}: unreadable"])
        diffs = config_differences(saved, run.config)
        return RunState("mismatch", diffs) if diffs else RunState(state)
    return RunState(state)


def _eval_done(run_dir: Path, ev: PlannedEval) -> bool:
    """A readable result of this evaluation that is newer than the run's record (not a stale one)."""
    path = run_dir / "eval" / f"{ev.name}.json"
    try:
        data = json.loads(path.read_text())
        fresh = path.stat().st_mtime_ns >= (run_dir / RECORD).stat().st_mtime_ns
    except (OSError, ValueError):
        return False
    metrics = data.get("metrics") if isinstance(data, dict) else None
    return (fresh and isinstance(metrics, dict) and "accuracy" in metrics
            and data.get("subsample") == ev.subsample and data.get("split") == ev.split)



def check_plan(runs: list[PlannedRun]) -> list[RunState]:
    """Inspect every folder first: a run made from another config stops the sweep before any work."""
    states = [inspect_run(r) for r in runs]
    bad = [(r, s) for r, s in zip(runs, states, strict=True) if s.state == "mismatch"]
    if bad:
        run, st = bad[0]
        more = f" (and {len(bad) - 1} more run(s))" if len(bad) > 1 else ""
        raise RunError(f"{run.run_dir} was made with a different config ({'; '.join(st.differences[:3])})"
                       f"{more}; delete those run folders or give the sweep another output_dir")
    return states
