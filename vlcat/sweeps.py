"""Sweeps: the grids of runs behind the papers' tables (few-shot, base-to-novel, cross-dataset, domain shift).

A sweep expands a small config (datasets x methods x shots x seeds, plus evaluations of each finished run
on other class subsets or datasets) into run folders whose names depend on those coordinates only, so the
same sweep finds its own earlier work: a run with a valid ``record.json`` made from the same config is
skipped, a run with a folder but no record is resumed, a missing run is trained. Each step is its own
atomic unit (``run_training`` writes the record last), so a sweep killed at any moment loses at most the
run in progress, and rerunning it redoes nothing that finished.

Zero-shot methods (``learner.name=zeroshot``) use no training images, so they run once per dataset and
seed (``data.num_shots=-1``), not once per K; tables show them as the reference in every K.

The sweep config is a dataclass read through OmegaConf, as strict as the run config: an unknown key is a
one-line error naming the allowed ones, and every run's config is built and validated before any work.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from vlcat.config import CONFIG_DIR, RunConfig, load_config, load_yaml_mapping, parse_overrides, validate
from vlcat.errors import ConfigError, RunError
from vlcat.learners import get_learner

PROTOCOLS = ("fewshot", "base2novel")
SUBSETS = ("all", "base", "novel")
SPLITS = ("train", "val", "test")
ALL_SHOTS = -1
RECORD = "record.json"
RUN_CONFIG = "config.yaml"
LABEL = "sweep.json"
"""Written into each run folder by the sweep: the method *label* (a sweep may hold two CoOp variants)."""

# Run-config keys the sweep sets from its own axes; an override of them would silently be overwritten.
_AXIS_KEYS = {
    "output_dir": "the sweep's output_dir",
    "data.dataset": "datasets",
    "data.num_shots": "shots",
    "train.seed": "seeds",
    "data.subsample_classes": "protocol (base2novel trains on base classes)",
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")


@dataclass
class MethodSpec:
    """One column of the tables: a label plus the run-config files/overrides that make the method."""

    name: str = MISSING
    """Table label and folder name (letters, digits, ``_ . + -``)."""
    configs: list[str] = field(default_factory=list)
    """Run-config YAMLs layered after the sweep's ``base_config`` (paths relative to the sweep file)."""
    overrides: list[str] = field(default_factory=list)
    """``key=value`` run-config overrides; they win over the sweep's, dataset and shot overrides."""


@dataclass
class EvalTarget:
    """An extra evaluation of every finished run (cross-dataset, domain generalisation, novel classes)."""

    dataset: str | None = None
    """Dataset card; null = the run's own dataset."""
    subsample: str = "all"
    """all | base | novel: the classes evaluated (their names go into the learned prompt)."""
    split: str = "test"
    root: str | None = None
    """Data root of ``dataset`` when it differs from the run's ``data.root``."""
    name: str | None = None
    """Result file ``<run>/eval/<name>.json``; default ``<dataset>_<subsample>_<split>``."""


@dataclass
class SweepConfig:
    protocol: str = "fewshot"
    """fewshot | base2novel (train on base classes, evaluate on base and novel)."""
    output_dir: str = "runs/sweep"
    base_config: list[str] = field(default_factory=list)
    """Run-config YAMLs every run starts from (relative to the sweep file, then configs/)."""
    overrides: list[str] = field(default_factory=list)
    """``key=value`` run-config overrides for every run (e.g. data.root=/data, model.name=ViT-B-16)."""
    datasets: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    shots: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    methods: list[MethodSpec] = field(default_factory=list)
    shot_overrides: dict[int, list[str]] = field(default_factory=dict)
    """Run-config overrides per K (CoOp trains 50/100/200 epochs for 1-2/4-8/16 shots)."""
    dataset_overrides: dict[str, list[str]] = field(default_factory=dict)
    """Run-config overrides per dataset; applied after shot_overrides (CoOp: ImageNet always 50 epochs)."""
    eval_targets: list[EvalTarget] = field(default_factory=list)


# ----- loading and validation ---------------------------------------------------------------------------

_WHERE = {MethodSpec: "methods[]", EvalTarget: "eval_targets[]"}


def _explain(exc: OmegaConfBaseException) -> str:
    """One line naming the offending key and, for an unknown key, the keys allowed at that place."""
    key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or ""
    obj = getattr(exc, "object_type", None)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ConfigKeyError) or "not in" in first:
        obj = obj if dataclasses.is_dataclass(obj) else SweepConfig
        where = f" in {_WHERE[obj]}" if obj in _WHERE else ""
        allowed = ", ".join(f.name for f in dataclasses.fields(obj))
        return f"unknown sweep config key '{key}'{where}; allowed here: {allowed}"
    if isinstance(exc, MissingMandatoryValue):
        return f"sweep config key '{key}' is required"
    if isinstance(exc, ValidationError):
        return f"bad value for sweep config key '{key}': {first}"
    return f"invalid sweep config at '{key}': {first}"


def _find_file(name: str, base: Path) -> Path:
    """Relative to the sweep file first, then configs/, then the working directory (as run configs)."""
    for cand in (base / name, CONFIG_DIR / name, Path(name)):
        if cand.is_file():
            return cand.resolve()
    raise ConfigError(f"run config file not found: {name} (looked next to the sweep file, in {CONFIG_DIR} "
                      "and in the working directory)")


def load_sweep(file: str | Path | None = None, overrides: list[str] | None = None,
               run_overrides: list[str] | None = None) -> SweepConfig:
    """Read a sweep YAML, apply ``key=value`` sweep overrides and extra run overrides, validate.

    File paths inside the sweep are made absolute here, so the plan does not depend on the working
    directory the sweep is resumed from.
    """
    schema = OmegaConf.structured(SweepConfig)
    base = Path.cwd()
    layers: list[DictConfig] = []
    if file is not None:
        path = Path(file)
        if not path.is_file() and (CONFIG_DIR / path).is_file():
            path = CONFIG_DIR / path
        if not path.is_file():
            raise ConfigError(f"sweep config file not found: {file}")
        layers.append(load_yaml_mapping(path, "sweep config keys"))
        base = path.resolve().parent
    layers.append(parse_overrides(list(overrides or [])))
    merged = schema
    try:
        for layer in layers:
            merged = OmegaConf.merge(merged, layer)
        sweep: SweepConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(_explain(exc)) from None
    sweep.overrides = list(sweep.overrides) + list(run_overrides or [])
    sweep.base_config = [str(_find_file(f, base)) for f in sweep.base_config]
    for m in sweep.methods:
        m.configs = [str(_find_file(f, base)) for f in m.configs]
    validate_sweep(sweep)
    return sweep


def _override_key(item: str) -> str:
    return item.split("=", 1)[0].strip().lstrip("+~")


def _dups(values: list[Any]) -> list[Any]:
    return [v for i, v in enumerate(values) if v in values[:i]]


def validate_sweep(sweep: SweepConfig) -> None:
    """The checks types can't express; every one fails before any run starts."""
    if sweep.protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={sweep.protocol!r} is not one of: {', '.join(PROTOCOLS)}")
    for key in ("datasets", "seeds", "shots", "methods"):
        if not getattr(sweep, key):
            raise ConfigError(f"the sweep lists no {key}; give at least one (e.g. {key}=[...])")
    names = [m.name for m in sweep.methods]
    for what, values in (("datasets", sweep.datasets), ("seeds", sweep.seeds), ("shots", sweep.shots),
                         ("method names", names)):
        dups = _dups(values)
        if dups:
            raise ConfigError(f"{what} lists {dups[0]!r} twice")
    bad = [m for m in names if not _SAFE_NAME.match(m)]
    if bad:
        raise ConfigError(f"method name {bad[0]!r} must be letters, digits and _ . + - (it names a folder)")
    bad_k = [k for k in sweep.shots if k < 1 and k != ALL_SHOTS]
    if bad_k:
        raise ConfigError(f"shots must be >= 1 (or {ALL_SHOTS} for the full training split), got {bad_k[0]}")
    unknown = [d for d in sweep.dataset_overrides if d not in sweep.datasets]
    if unknown:
        raise ConfigError(f"dataset_overrides names {unknown[0]!r}, which is not in datasets: "
                          f"{', '.join(sweep.datasets)}")
    unknown_k = [k for k in sweep.shot_overrides if k not in sweep.shots]
    if unknown_k:
        raise ConfigError(f"shot_overrides names K={unknown_k[0]}, which is not in shots: "
                          f"{', '.join(map(str, sweep.shots))}")
    lists = [("overrides", sweep.overrides)]
    lists += [(f"dataset_overrides.{d}", v) for d, v in sweep.dataset_overrides.items()]
    lists += [(f"shot_overrides.{k}", v) for k, v in sweep.shot_overrides.items()]
    lists += [(f"methods[{m.name}].overrides", m.overrides) for m in sweep.methods]
    for where, items in lists:
        for item in items:
            if "=" not in item:
                raise ConfigError(f"{where}: override '{item}' must look like key=value (e.g. optim.lr=0.01)")
            key = _override_key(item)
            if key in _AXIS_KEYS:
                raise ConfigError(f"{where} sets '{key}', which the sweep sets from {_AXIS_KEYS[key]}; "
                                  "remove it there")
    for t in sweep.eval_targets:
        if t.subsample not in SUBSETS:
            raise ConfigError(f"eval_targets: subsample={t.subsample!r} is not one of: {', '.join(SUBSETS)}")
        if t.split not in SPLITS:
            raise ConfigError(f"eval_targets: split={t.split!r} is not one of: {', '.join(SPLITS)}")
        if t.name is not None and not _SAFE_NAME.match(t.name):
            raise ConfigError(f"eval_targets: name {t.name!r} must be letters, digits and _ . + -")


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
        zero_shot = get_learner(base_cfg.learner.name).cls.trained_by == "none"  # needs no training images
        base_node = OmegaConf.structured(base_cfg)
        for dataset in sweep.datasets:
            evals = _plan_evals(sweep, dataset)
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

def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _normalized(saved: dict[str, Any]) -> dict[str, Any] | None:
    """A saved config read through today's schema (new keys get defaults); None if it no longer fits."""
    try:
        node = OmegaConf.merge(OmegaConf.structured(RunConfig), saved)
        return OmegaConf.to_container(node)  # type: ignore[return-value]
    except OmegaConfBaseException:
        return None


def config_differences(saved: Any, cfg: RunConfig) -> list[str]:
    """``key: saved -> wanted`` for each differing run-config key, ``output_dir`` excluded.

    The output folder is left out so that a sweep folder that was moved or copied is still the same sweep.
    """
    want = dataclasses.asdict(cfg)
    want.pop("output_dir", None)
    if not isinstance(saved, dict):
        return ["config: missing or not a mapping"]
    saved = {k: v for k, v in saved.items() if k != "output_dir"}
    if saved == want:
        return []
    norm = _normalized(saved)
    if norm is None:
        return ["config: does not fit the current schema"]
    norm.pop("output_dir", None)
    a, b = _flatten(norm), _flatten(want)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's record if it is complete and readable, else None."""
    try:
        rec = json.loads((run_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(rec, dict) and rec.get("status") == "finished" and isinstance(rec.get("metrics"), dict)
    return rec if ok else None


@dataclass
class RunState:
    state: str
    """new | unfinished | finished | broken (unreadable record: resumed) | mismatch (made from another config)."""
    differences: list[str] = field(default_factory=list)


def inspect_run(run: PlannedRun) -> RunState:
    d = run.run_dir
    if (d / RECORD).exists():
        rec = read_record(d)
        if rec is None:
            return RunState("broken")
        diffs = config_differences(rec.get("config"), run.config)
        return RunState("mismatch", diffs) if diffs else RunState("finished")
    if (d / RUN_CONFIG).is_file():
        try:
            saved = yaml.safe_load((d / RUN_CONFIG).read_text())
        except (OSError, yaml.YAMLError):
            return RunState("mismatch", [f"{RUN_CONFIG}: unreadable"])
        diffs = config_differences(saved, run.config)
        return RunState("mismatch", diffs) if diffs else RunState("unfinished")
    if d.is_dir() and any(d.iterdir()):
        return RunState("unfinished")
    return RunState("new")


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


# ----- running ------------------------------------------------------------------------------------------

@dataclass
class StepResult:
    run: PlannedRun
    action: str
    """skipped | trained | resumed."""
    evaluated: list[str]
    """Names of the evaluations done in this step (finished ones are skipped too)."""
    accuracy: float | None
    seconds: float


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


def run_sweep(sweep: SweepConfig, *, runs: list[PlannedRun] | None = None,
              on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Run (or resume) the whole sweep (``runs``: its plan, if already made); ``on_step`` is called after each
    run and its evaluations.

    An exception from ``on_step`` stops the sweep like any interruption would: what finished stays finished.
    """
    import vlcat.catalyst  # noqa: F401  registers the catalyst with the run loop
    from vlcat.train.checkpoint import atomic_write_text
    from vlcat.train.run import evaluate_run, run_training

    runs = plan_sweep(sweep) if runs is None else runs
    states = check_plan(runs)
    out = Path(sweep.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.yaml", OmegaConf.to_yaml(OmegaConf.structured(sweep)))
    results: list[StepResult] = []
    for run, st in zip(runs, states, strict=True):
        t0 = time.perf_counter()
        if st.state == "finished":
            action = "skipped"
            record = read_record(run.run_dir)
        else:
            if st.state == "broken":
                (run.run_dir / RECORD).replace(run.run_dir / (RECORD + ".broken"))
            action = "trained" if st.state == "new" else "resumed"
            record = run_training(run.config, resume=st.state != "new")
        label_path = run.run_dir / LABEL
        if not label_path.is_file() or _read_json(label_path) != run.label:
            atomic_write_text(label_path, json.dumps(run.label, indent=2))
        done: list[str] = []
        for ev in run.evals:
            if action == "skipped" and _eval_done(run.run_dir, ev):
                continue
            evaluate_run(run.run_dir, split=ev.split, subsample=ev.subsample, dataset=ev.dataset, root=ev.root,
                         name=ev.name, overrides=list(ev.overrides))
            done.append(ev.name)
        acc = ((record or {}).get("metrics", {}).get("test") or {}).get("accuracy")
        step = StepResult(run, action, done, acc, time.perf_counter() - t0)
        results.append(step)
        if on_step is not None:
            on_step(step)
    return results


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ----- command line -------------------------------------------------------------------------------------

def _sweep_main(argv: list[str] | None, *, prog: str, protocol: str, default_config: str,
                other_tool: str) -> int:
    from vlcat.cli import _guard

    p = argparse.ArgumentParser(prog=prog, description=f"Run or resume a {protocol} sweep: finished runs are "
                                "skipped, unfinished ones resumed, missing ones trained.")
    p.add_argument("--config", "-c", default=default_config,
                   help=f"sweep YAML (default {default_config}; see configs/experiments/)")
    p.add_argument("--output-dir", "-o", help="sweep folder (same as output_dir=...)")
    p.add_argument("--set", "-s", action="append", default=[], metavar="KEY=VALUE", dest="run_overrides",
                   help="run-config override for every run, e.g. --set data.root=/data (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and each run's state; run nothing")
    p.add_argument("--report", action="store_true", help="print the report tables when the sweep is done")
    p.add_argument("overrides", nargs="*", help="sweep-config overrides, e.g. seeds=[1,2] datasets=[dtd,eurosat]")
    args = p.parse_args(argv)

    def go() -> int:
        extra = list(args.overrides) + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
        sweep = load_sweep(args.config, extra, args.run_overrides)
        if sweep.protocol != protocol:
            raise ConfigError(f"{args.config} is a {sweep.protocol} sweep; run it with {other_tool}")
        runs = plan_sweep(sweep)
        if args.dry_run:
            for run, st in zip(runs, [inspect_run(r) for r in runs], strict=True):
                evals = f"  + eval {', '.join(e.name for e in run.evals)}" if run.evals else ""
                print(f"{st.state:10s} {run.run_dir}{evals}")
            return 0
        total = len(runs)
        counter = {"i": 0}

        def show(step: StepResult) -> None:
            counter["i"] += 1
            acc = "" if step.accuracy is None else f"  test {step.accuracy:.2f}"
            evals = f"  evaluated {', '.join(step.evaluated)}" if step.evaluated else ""
            print(f"[{counter['i']}/{total}] {step.action:8s} {step.run.rel}{acc}{evals}  ({step.seconds:.1f} s)",
                  file=sys.stderr, flush=True)

        steps = run_sweep(sweep, runs=runs, on_step=show)
        counts = {a: sum(s.action == a for s in steps) for a in ("trained", "resumed", "skipped")}
        print(json.dumps({"output_dir": sweep.output_dir, "runs": len(steps), **counts}))
        if args.report:
            from vlcat.report_cli import main as report_main

            return report_main([sweep.output_dir])
        print(f"tables: vlcat-report {sweep.output_dir}", file=sys.stderr)
        return 0

    return _guard(go)


def fewshot_main(argv: list[str] | None = None) -> int:
    """``vlcat-fewshot``: few-shot sweeps, and cross-dataset / domain-generalisation ones (eval_targets)."""
    return _sweep_main(argv, prog="vlcat-fewshot", protocol="fewshot", default_config="experiments/fewshot.yaml",
                       other_tool="vlcat-base2novel")


def base2novel_main(argv: list[str] | None = None) -> int:
    """``vlcat-base2novel``: CoCoOp's base-to-novel generalisation sweep."""
    return _sweep_main(argv, prog="vlcat-base2novel", protocol="base2novel",
                       default_config="experiments/base2novel.yaml", other_tool="vlcat-fewshot")
