"""Figures in the papers' style: accuracy vs shots per dataset, and base/novel/HM grouped bars.

Figures are drawn on matplotlib ``Figure`` objects with the Agg canvas directly (no pyplot), so making a
report never changes the process-wide backend or needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vlcat.results import (
    Result,
    base2novel_stats,
    fewshot_stats,
    harmonic_mean,
    mean_of,
    order_datasets,
    order_methods,
    zero_shot_methods,
)

AVERAGE = "Average"


def _grid(n: int, width: float = 3.4, height: float = 2.8) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend(fig: Any, axes: list[Any]) -> None:
    """One legend for the figure, outside the panels, from every method any panel drew."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize="small")


def _err(std: float | None) -> float | None:
    return std if std is not None and math.isfinite(std) else None


def plot_fewshot(results: list[Result], path: str | Path, ddof: int = 0) -> Path | None:
    """CoOp's Fig. 3: one panel per dataset plus the average; x = shots (zero-shot CLIP as a star at 0)."""
    stats = fewshot_stats(results, ddof)
    shots = sorted({k[2] for k in stats if k[2] is not None})
    if not shots:
        return None
    zs = zero_shot_methods(stats)
    methods = order_methods((k[0] for k in stats), zs)
    datasets = order_datasets(k[1] for k in stats)
    xs = {k: i + 1 for i, k in enumerate(shots)}
    fig, axes = _grid(len(datasets) + 1)
    for ax, d in zip(axes, [*datasets, AVERAGE], strict=True):
        for m in methods:
            if m in zs:
                if d == AVERAGE:
                    mean, err = mean_of(s.mean for (mm, _, _), s in stats.items() if mm == m), None
                else:
                    s = stats.get((m, d, None))
                    mean, err = (s.mean, _err(s.std)) if s else (None, None)
                if mean is not None:
                    ax.errorbar([0], [mean], yerr=err, marker="*", markersize=11, linestyle="none", capsize=3,
                                label=m)
                continue
            pts = []
            for k in shots:
                if d == AVERAGE:
                    mean = mean_of(s.mean for (mm, _, kk), s in stats.items() if mm == m and kk == k)
                    if mean is not None:
                        pts.append((xs[k], mean, None))
                elif (s := stats.get((m, d, k))) is not None:
                    pts.append((xs[k], s.mean, _err(s.std)))
            if pts:
                yerr = [e if e is not None else 0.0 for _, _, e in pts]
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=yerr, marker="o", capsize=3, label=m)
        ax.set_title(d)
        ax.set_xticks([0, *xs.values()], ["0", *(("all" if k == -1 else str(k)) for k in shots)])
        ax.set_xlabel("shots per class")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def plot_base2novel(results: list[Result], path: str | Path, ddof: int = 0) -> Path | None:
    """Grouped bars per dataset (and the average): Base, Novel and HM, one bar per method."""
    stats = base2novel_stats(results, ddof)
    if not stats:
        return None
    zs = zero_shot_methods(stats)
    methods = order_methods((k[0] for k in stats), zs)
    datasets = order_datasets(k[1] for k in stats)
    k_of = {m: sorted({k[2] for k in stats if k[0] == m}, key=lambda v: (v is None, v))[-1] for m in methods}
    fig, axes = _grid(len(datasets) + 1)
    width = 0.8 / len(methods)
    for ax, d in zip(axes, [*datasets, AVERAGE], strict=True):
        for j, m in enumerate(methods):
            if d == AVERAGE:
                pairs = [v for (mm, _, kk), v in stats.items() if mm == m and kk == k_of[m]]
                b = mean_of(p[0].mean for p in pairs if p[0] is not None)
                n = mean_of(p[1].mean for p in pairs if p[1] is not None)
                errs: list[float] = [math.nan, math.nan, math.nan]
            else:
                base, novel = stats.get((m, d, k_of[m]), (None, None))
                b, n = (base.mean if base else None), (novel.mean if novel else None)
                errs = [_err(base.std if base else None) or math.nan, _err(novel.std if novel else None) or math.nan,
                        math.nan]
            hm = harmonic_mean(b, n) if b is not None and n is not None else None
            heights = [v if v is not None else math.nan for v in (b, n, hm)]  # NaN draws no bar: a gap
            xs = [g + (j - (len(methods) - 1) / 2) * width for g in range(3)]
            ax.bar(xs, heights, width, yerr=errs, capsize=2, label=m)
        ax.set_title(d)
        ax.set_xticks(range(3), ["Base", "Novel", "HM"])
        ax.set_ylabel("accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
    _legend(fig, axes)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def write_plots(results: list[Result], out: str | Path, ddof: int = 0) -> list[Path]:
    """``fewshot.png`` and ``base2novel.png`` where the results have those protocols."""
    made = [plot_fewshot(results, Path(out) / "fewshot.png", ddof),
            plot_base2novel(results, Path(out) / "base2novel.png", ddof)]
    return [p for p in made if p is not None]
