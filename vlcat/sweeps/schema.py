"""The sweep config: its dataclasses, reading a sweep YAML with overrides, and the checks types can't express.

The sweep config is a dataclass read through OmegaConf, as strict as the run config: an unknown key is a
one-line error naming the allowed ones. Nothing here touches a run folder or imports torch.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from vlcat.config import load_yaml_mapping, parse_overrides
from vlcat.errors import ConfigError
from vlcat.paths import CONFIG_DIR, datasets_dir, find_config_file

PROTOCOLS = ("fewshot", "base2novel")
SUBSETS = ("all", "base", "novel")
SPLITS = ("train", "val", "test")
ALL_SHOTS = -1

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
    found = find_config_file(name, base)
    if found is not None:
        return found.resolve()
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
        path = find_config_file(str(file), Path("."))  # the working directory, then configs/
        if path is None:
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
    for d in sweep.datasets:
        plain = not re.match(r"^(folder|csv):", d) and not d.endswith((".yaml", ".yml")) and "/" not in d
        if plain and not _is_known_card(d):
            known = sorted(p.stem for p in datasets_dir().glob("*.yaml") if not p.name.startswith("."))
            raise ConfigError(f"unknown dataset '{d}' in datasets; known: {', '.join(known)} "
                              "(or give a card file, folder:PATH or csv:PATH)")
    # dataset_overrides are rules for a dataset *when* it is in the sweep (the default sweeps carry CoOp's
    # ImageNet rule), so a known card that is not swept is fine; an unknown name is a typo.
    unknown = [d for d in sweep.dataset_overrides if d not in sweep.datasets and not _is_known_card(d)]
    if unknown:
        raise ConfigError(f"dataset_overrides names {unknown[0]!r}, which is neither in datasets "
                          f"({', '.join(sweep.datasets)}) nor a dataset card in {datasets_dir()}")
    # shot_overrides are rules for a K *when* it is swept (the default sweeps carry CoOp's epochs for every
    # K), so `shots=[1]` on the command line keeps working.
    bad_k = [k for k in sweep.shot_overrides if k < 1 and k != ALL_SHOTS]
    if bad_k:
        raise ConfigError(f"shot_overrides names K={bad_k[0]}; K must be >= 1 (or {ALL_SHOTS})")
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


def _is_known_card(name: str) -> bool:
    return (datasets_dir() / f"{name}.yaml").is_file()


