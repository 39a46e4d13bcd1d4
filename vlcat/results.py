"""Results of finished runs, read from their folders and aggregated over seeds.

Numbers come from the files runs write (``record.json`` and ``eval/*.json``), never from logs, so a report
can be made at any moment from whatever part of a sweep has finished; a missing run is a gap, not an error.

Statistics, chosen to match the papers we compare with:
- a cell is the mean over seeds (CoOp and CoCoOp report the mean of 3 seeds);
- the ± is the *population* standard deviation (``ddof=0``) by default, because that is what CoOp's
  result parser prints (``np.std``), so our spreads are comparable with theirs; ``ddof=1`` (the sample
  standard deviation) is an option, and every table says which one it shows;
- the Average row is the plain mean of the per-dataset means, over the datasets present for that method;
- base-to-novel HM = 2·B·N/(B+N) is computed from the seed-averaged base and novel accuracies, and the
  Average row's HM from the dataset-averaged B and N (not the mean of per-dataset HMs), as in CoCoOp.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlcat.rundir import LABEL, RECORD, read_json

# CoOp's order of the 11 datasets (tables list known datasets in this order, others after, sorted), then
# the ImageNet variants of the domain-generalisation table.
DATASET_ORDER = (
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
    "sun397", "dtd", "eurosat", "ucf101", "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r",
)


@dataclass(frozen=True)
class Result:
    """One accuracy of one seed: a run's own test metric, or one of its evaluations elsewhere."""

    method: str
    source: str
    """Dataset the prompt was trained on."""
    train_subsample: str
    """Classes trained on: all | base."""
    dataset: str
    """Dataset the accuracy was measured on (differs from ``source`` for cross-dataset evaluation)."""
    subsample: str
    """Classes measured: all | base | novel."""
    shots: int | None
    """None for zero-shot methods, which use no training images."""
    seed: int
    accuracy: float
    macro_f1: float
    path: str

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.method, self.source, self.train_subsample, self.dataset, self.subsample, self.shots, self.seed)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    """NaN when undefined (one seed with ddof=1)."""
    n: int


def summarize(values: Sequence[float], ddof: int = 0) -> Stat:
    """Mean and standard deviation of the per-seed values (see the module docstring for ``ddof``)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("no values to summarize")
    std = float(np.std(arr, ddof=ddof)) if arr.size > ddof else float("nan")
    return Stat(float(arr.mean()), std, int(arr.size))


def harmonic_mean(base: float, novel: float) -> float:
    """CoCoOp's HM of base and novel accuracy; 0 when both are 0."""
    return 0.0 if base + novel == 0 else 2 * base * novel / (base + novel)


def mean_of(values: Iterable[float]) -> float | None:
    vals = list(values)
    return float(np.mean(vals)) if vals else None


# ----- reading -----------------------------------------------------------------------------------------

_read_json = read_json


def _accuracy(metrics: Any) -> tuple[float, float] | None:
    if not isinstance(metrics, dict):
        return None
    acc = metrics.get("accuracy")
    if not isinstance(acc, (int, float)) or math.isnan(acc):
        return None
    f1 = metrics.get("macro_f1")
    return float(acc), float(f1) if isinstance(f1, (int, float)) else float("nan")


def _results_of_run(run_dir: Path, rec: dict[str, Any]) -> list[Result]:
    """The run's own test accuracy plus each test-split evaluation in ``<run>/eval``."""
    label = _read_json(run_dir / LABEL)
    method = label.get("method") if isinstance(label, dict) and label.get("method") else rec.get("method")
    learner = rec.get("learner") or (rec.get("config") or {}).get("learner", {}).get("name")
    shots = None if learner == "zeroshot" else rec.get("num_shots")
    source, train_sub, seed = rec.get("dataset"), rec.get("subsample", "all"), rec.get("seed")
    if not (isinstance(method, str) and isinstance(source, str) and isinstance(seed, int)):
        raise ValueError("record lacks method, dataset or seed")
    out: list[Result] = []
    own = _accuracy((rec.get("metrics") or {}).get("test"))
    if own is not None:
        out.append(Result(method, source, train_sub, source, train_sub, shots, seed, *own, str(run_dir / RECORD)))
    for path in sorted((run_dir / "eval").glob("*.json")):
        ev = _read_json(path)
        if not isinstance(ev, dict) or ev.get("split") != "test":
            continue
        acc = _accuracy(ev.get("metrics"))
        dataset, subsample = ev.get("dataset"), ev.get("subsample", "all")
        if acc is None or not isinstance(dataset, str) or (dataset, subsample) == (source, train_sub):
            continue
        out.append(Result(method, source, train_sub, dataset, subsample, shots, seed, *acc, str(path)))
    return out


def load_results(*roots: str | Path) -> tuple[list[Result], list[str]]:
    """All results under the given folders, and one warning line per file that could not be used.

    Two results for the same (method, dataset, classes, shots, seed) mean two sweeps were mixed; the newest
    file is kept and the clash is reported, since averaging both would silently count a seed twice.
    """
    found: dict[tuple[Any, ...], Result] = {}
    problems: list[str] = []
    for root in roots:
        for rec_path in sorted(Path(root).rglob(RECORD)):
            rec = _read_json(rec_path)
            if not isinstance(rec, dict) or rec.get("status") != "finished":
                problems.append(f"{rec_path}: not a finished run record; skipped")
                continue
            try:
                results = _results_of_run(rec_path.parent, rec)
            except ValueError as exc:
                problems.append(f"{rec_path}: {exc}; skipped")
                continue
            for r in results:
                old = found.get(r.key)
                if old is not None:
                    newer = r if Path(r.path).stat().st_mtime >= Path(old.path).stat().st_mtime else old
                    problems.append(f"{old.path} and {r.path} are the same run (method {r.method}, {r.dataset}, "
                                    f"seed {r.seed}); using {newer.path}")
                    r = newer
                found[r.key] = r
    return list(found.values()), problems


# ----- views used by tables and plots ------------------------------------------------------------------

def group_stats(results: Iterable[Result], key: Callable[[Result], Hashable], ddof: int = 0) -> dict[Any, Stat]:
    groups: dict[Any, list[float]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r.accuracy)
    return {k: summarize(v, ddof) for k, v in groups.items()}


def fewshot_stats(results: Iterable[Result], ddof: int = 0) -> dict[tuple[str, str, int | None], Stat]:
    """(method, dataset, shots) -> Stat of runs trained and tested on all classes of the same dataset."""
    own = [r for r in results if r.dataset == r.source and r.subsample == r.train_subsample == "all"]
    return group_stats(own, lambda r: (r.method, r.dataset, r.shots), ddof)


def base2novel_stats(results: Iterable[Result], ddof: int = 0
                     ) -> dict[tuple[str, str, int | None], tuple[Stat | None, Stat | None]]:
    """(method, dataset, shots) -> (base Stat, novel Stat) of runs trained on the base classes."""
    b2n = [r for r in results if r.dataset == r.source and r.train_subsample == "base"]
    stats = group_stats(b2n, lambda r: (r.method, r.dataset, r.shots, r.subsample), ddof)
    keys = {k[:3] for k in stats}
    return {k: (stats.get((*k, "base")), stats.get((*k, "novel"))) for k in keys}


def transfer_stats(results: Iterable[Result], ddof: int = 0) -> dict[tuple[str, str, int | None, str], Stat]:
    """(method, source, shots, target) -> Stat of runs trained on ``source`` and tested on all classes of
    another dataset (cross-dataset transfer, domain generalisation)."""
    xd = [r for r in results if r.dataset != r.source and r.subsample == r.train_subsample == "all"]
    return group_stats(xd, lambda r: (r.method, r.source, r.shots, r.dataset), ddof)


def zero_shot_methods(keys: Iterable[tuple[Any, ...]]) -> set[str]:
    """Methods whose results have no shots (zero-shot): they are the reference in every K."""
    return {k[0] for k in keys if k[2] is None}


def order_methods(methods: Iterable[str], zero_shot: set[str]) -> list[str]:
    """Zero-shot references first (as the papers' first row), then the rest by name."""
    return sorted(set(methods), key=lambda m: (m not in zero_shot, m))


def order_datasets(datasets: Iterable[str]) -> list[str]:
    rank = {d: i for i, d in enumerate(DATASET_ORDER)}
    return sorted(set(datasets), key=lambda d: (rank.get(d, len(rank)), d))
