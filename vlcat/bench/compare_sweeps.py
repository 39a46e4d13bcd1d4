"""Two sweep folders of one protocol compared run for run (``tools/compare_sweeps.py``): each folder's averages
and the paired difference per method and shot count, with a t interval and the sign test.

Paired because a change that moves numbers everywhere at once (the LR schedule, a precision) is only
measured by how much and on how many (task, seed) pairs it moved them, not by two averages that differ.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from vlcat.bench.catalyst import sign_test, t_interval
from vlcat.errors import VlcatError
from vlcat.results import harmonic_mean, load_results

Key = tuple[str, int | None, str, int]  # (method, shots, task, seed)
Cells = dict[Key, dict[str, float]]  # -> {"base": .., "novel": ..} or {"all": ..}


def read_sweep(folder: str | Path) -> Cells:
    """Test accuracy of every finished run under ``folder``, by the classes it was measured on."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VlcatError(f"{folder} is not a folder; give two sweep folders (e.g. runs/offline/base2novel)")
    results, _ = load_results(folder)
    cells = cells_of(results)
    if not cells:
        raise VlcatError(f"{folder} holds no finished runs")
    return cells


def cells_of(results: list) -> Cells:
    """Test accuracy by (method, shots, task, seed) and the classes it was measured on (``load_results`` rows
    of runs tested on their own dataset)."""
    cells: Cells = defaultdict(dict)
    for r in results:
        if r.dataset == r.source:
            cells[(r.method, r.shots, r.dataset, r.seed)][r.subsample] = r.accuracy
    return cells


def score(c: dict[str, float]) -> float:
    """The number a run is compared by: HM of Base and Novel (Base where there is no Novel), else accuracy."""
    if "base" in c:
        return harmonic_mean(c["base"], c["novel"]) if "novel" in c else c["base"]
    return c["all"]


def _averages(cells: Cells, group: tuple[str, int | None], pairs: list[tuple[str, int]]) -> list[str]:
    """Averages as the suite prints them: over seeds, then over tasks (HM of the averaged Base and Novel)."""
    by_task: dict[str, list[dict[str, float]]] = defaultdict(list)
    for task, seed in pairs:
        by_task[task].append(cells[(*group, task, seed)])

    def mean_over(key: str) -> float | None:
        per_task = [sum(c[key] for c in cs) / len(cs) for cs in by_task.values() if all(key in c for c in cs)]
        return sum(per_task) / len(per_task) if len(per_task) == len(by_task) else None

    if mean_over("all") is not None:
        return [f"{mean_over('all'):.2f}"]
    base, novel = mean_over("base"), mean_over("novel")
    hm = harmonic_mean(base, novel) if base is not None and novel is not None else None
    return [("–" if v is None else f"{v:.2f}") for v in (base, novel, hm)]


def compare(before: Cells, after: Cells, labels: tuple[str, str]) -> str:
    """The Markdown table: both folders' averages and the paired difference per (method, shots)."""
    a, b = labels
    groups = sorted({k[:2] for k in before} & {k[:2] for k in after}, key=lambda g: (g[0], g[1] or 0))
    b2n = any("base" in c for c in before.values())
    cols = ["Base", "Novel", "HM"] if b2n else ["Acc"]
    lines = ["| method | shots | " + " | ".join(f"{a} {c}" for c in cols) + " | " + " | ".join(f"{b} {c}" for c in cols)
             + " | paired Δ " + ("(HM, or Base)" if b2n else "(Acc)") + ", 95 % CI | W/T/L (sign-test p) |",
             "|:---|---:|" + "---:|" * (2 * len(cols)) + ":---|:---|"]
    for group in groups:
        pairs = sorted({k[2:] for k in before if k[:2] == group} & {k[2:] for k in after if k[:2] == group})
        diffs = [score(after[(*group, *p)]) - score(before[(*group, *p)]) for p in pairs]
        mean, lo, hi = t_interval(diffs)
        wins, losses = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
        p = f" (p {sign_test(wins, losses):.2g})" if wins + losses else ""
        shots = "zero-shot" if group[1] is None else str(group[1])
        lines.append(f"| {group[0]} | {shots} | {' | '.join(_averages(before, group, pairs))} | "
                     f"{' | '.join(_averages(after, group, pairs))} | {mean:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
                     f"{wins}/{len(diffs) - wins - losses}/{losses}{p} |")
    lines.append(f"\nΔ = {b} − {a} per (task, seed) pair; averages over seeds, then tasks, as the suite prints them.")
    return "\n".join(lines)


def against(cells: Cells, baseline: str = "coop") -> str:
    """Every method of one sweep paired with ``baseline`` on the same (task, seed): the table a new learner's
    row is read by. HM is compared where both have novel scores; a method without novel classes (the linear
    probe, Tip-Adapter) is compared on Base with the baseline's Base, so no row mixes two quantities.
    Empty when the sweep has no ``baseline`` runs."""
    base_groups = sorted({k[:2] for k in cells if k[0] == baseline}, key=lambda g: g[1] or 0)
    if not base_groups:
        return ""
    ref = base_groups[-1]  # the baseline's largest shot count (a base-to-novel sweep has one)
    ref_pairs = {k[2:] for k in cells if k[:2] == ref}
    groups = sorted({k[:2] for k in cells if k[0] != baseline}, key=lambda g: (g[0], g[1] or 0))
    lines = [f"| method | compared on | paired Δ vs {baseline}, 95 % CI | W/T/L (sign-test p) | pairs |",
             "|:---|:---|---:|:---|---:|"]
    for group in groups:
        pairs = sorted({k[2:] for k in cells if k[:2] == group} & ref_pairs)
        if not pairs:
            continue
        on_hm = all("novel" in cells[(*group, *p)] and "novel" in cells[(*ref, *p)] for p in pairs)
        key = score if on_hm else (lambda c: c.get("base", c.get("all", float("nan"))))
        diffs = [key(cells[(*group, *p)]) - key(cells[(*ref, *p)]) for p in pairs]
        mean, lo, hi = t_interval(diffs)
        wins, losses = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
        p = f" (p {sign_test(wins, losses):.2g})" if wins + losses else ""
        ci = f"[{lo:+.2f}, {hi:+.2f}]" if math.isfinite(lo) else "[– (one pair)]"
        what = "HM" if on_hm else ("Base" if any("base" in cells[(*group, *q)] for q in pairs) else "Acc")
        lines.append(f"| {group[0]} | {what} | {mean:+.2f} {ci} | "
                     f"{wins}/{len(diffs) - wins - losses}/{losses}{p} | {len(diffs)} |")
    lines.append(f"\nΔ = method − {baseline} per (task, seed) pair, on the same split and seed.")
    return "\n".join(lines)
