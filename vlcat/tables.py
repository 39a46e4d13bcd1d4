"""Tables in the papers' shape (rows = datasets + Average, columns = methods), as Markdown and CSV.

A table is data (cells with mean, std, seed count and a footnote mark) rendered twice, so the Markdown a
person reads and the CSV a script reads never disagree. Missing runs are blank cells ("–"), never errors.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from vlcat.results import (
    Result,
    Stat,
    base2novel_stats,
    fewshot_stats,
    harmonic_mean,
    mean_of,
    order_datasets,
    order_methods,
    transfer_stats,
    zero_shot_methods,
)

GAP = "–"
PARTIAL = "*"
FEWER_SEEDS = "†"


@dataclass(frozen=True)
class Cell:
    mean: float | None = None
    std: float | None = None
    n: int | None = None
    mark: str = ""

    @classmethod
    def of(cls, stat: Stat | None) -> Cell:
        return cls() if stat is None else cls(stat.mean, stat.std, stat.n)


@dataclass
class Table:
    title: str
    slug: str
    """File stem of the CSV."""
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]
    notes: list[str] = field(default_factory=list)


def _mark_fewer_seeds(table: Table) -> None:
    """Flag cells averaged over fewer seeds than the table's best-covered cell (an unfinished sweep)."""
    most = max((c.n for _, cells in table.rows for c in cells if c.n), default=0)
    flagged = False
    for i, (label, cells) in enumerate(table.rows):
        new = [Cell(c.mean, c.std, c.n, c.mark + FEWER_SEEDS) if c.n and c.n < most else c for c in cells]
        flagged |= new != cells
        table.rows[i] = (label, new)
    if flagged:
        table.notes.append(f"{FEWER_SEEDS} fewer seeds than the other cells (n < {most})")


def _average_cell(values: list[float | None], n_rows: int) -> Cell:
    present = [v for v in values if v is not None]
    mean = mean_of(present)
    return Cell(mean, mark=PARTIAL if mean is not None and len(present) < n_rows else "")


def _finish(table: Table, ddof: int) -> Table:
    _mark_fewer_seeds(table)
    if any(PARTIAL in c.mark for _, cells in table.rows for c in cells):
        table.notes.append(f"{PARTIAL} averaged over the datasets this method has (fewer than all rows)")
    table.notes.append(f"cells: mean ± std over seeds (std with ddof={ddof}); {GAP} = no finished run")
    return table


def _shots_text(k: int | None) -> str:
    if k is None:
        return "zero-shot"
    return "all shots" if k == -1 else f"{k} shot{'' if k == 1 else 's'}"


def _layout(stats: dict) -> tuple[set[str], list[str], list[str], list[int | None]]:
    """(zero-shot methods, method order, dataset order, shot counts) of stats keyed (method, dataset, K, ...)."""
    zs = zero_shot_methods(stats)
    methods = order_methods((k[0] for k in stats), zs)
    datasets = order_datasets(k[1] for k in stats)
    shots = sorted({k[2] for k in stats if k[2] is not None}) or [None]
    return zs, methods, datasets, shots


def _columns_for(k: int | None, methods: list[str], zs: set[str], stats: dict) -> list[str]:
    """The methods with a result at K shots; zero-shot ones belong to every K."""
    return [m for m in methods if m in zs or any(key[0] == m and key[2] == k for key in stats)]


def fewshot_tables(results: list[Result], ddof: int = 0) -> list[Table]:
    """One table per K: rows = datasets + Average, columns = methods; zero-shot is the same in every K."""
    stats = fewshot_stats(results, ddof)
    if not stats:
        return []
    zs, methods, datasets, shots = _layout(stats)
    tables = []
    for k in shots:
        cols = _columns_for(k, methods, zs, stats)
        rows = [(d, [Cell.of(stats.get((m, d, None if m in zs else k))) for m in cols]) for d in datasets]
        avg = [_average_cell([cells[j].mean for _, cells in rows], len(rows)) for j in range(len(cols))]
        slug = "zeroshot" if k is None else f"fewshot_{'all' if k == -1 else k}shots"
        table = Table(f"Few-shot accuracy (%), {_shots_text(k)}", slug, cols, rows + [("Average", avg)])
        tables.append(_finish(table, ddof))
    return tables


def base2novel_tables(results: list[Result], ddof: int = 0) -> list[Table]:
    """CoCoOp's Table 1 shape: Base, Novel and HM per method; HM from the seed/dataset-averaged B and N."""
    stats = base2novel_stats(results, ddof)
    if not stats:
        return []
    zs, methods, datasets, shots = _layout(stats)
    tables = []
    for k in shots:
        cols_m = _columns_for(k, methods, zs, stats)
        columns = [f"{m} {part}" for m in cols_m for part in ("Base", "Novel", "HM")]
        rows: list[tuple[str, list[Cell]]] = []
        sums: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in cols_m}
        for d in datasets:
            cells: list[Cell] = []
            for m in cols_m:
                base, novel = stats.get((m, d, None if m in zs else k), (None, None))
                hm = harmonic_mean(base.mean, novel.mean) if base is not None and novel is not None else None
                cells += [Cell.of(base), Cell.of(novel), Cell(hm)]
                if base is not None:
                    sums[m][0].append(base.mean)
                if novel is not None:
                    sums[m][1].append(novel.mean)
            rows.append((d, cells))
        avg: list[Cell] = []
        for m in cols_m:
            b, n = _average_cell(list(sums[m][0]), len(datasets)), _average_cell(list(sums[m][1]), len(datasets))
            hm = harmonic_mean(b.mean, n.mean) if b.mean is not None and n.mean is not None else None
            avg += [b, n, Cell(hm, mark=PARTIAL if hm is not None and (b.mark or n.mark) else "")]
        slug = f"base2novel_{'zeroshot' if k is None else k}{'' if k is None else 'shots'}"
        table = Table(f"Base-to-novel accuracy (%), {_shots_text(k)}", slug, columns, rows + [("Average", avg)])
        table.notes.append("HM = 2·Base·Novel/(Base+Novel) of the seed-averaged (Average row: dataset-averaged) "
                           "accuracies")
        tables.append(_finish(table, ddof))
    return tables


def transfer_tables(results: list[Result], ddof: int = 0) -> list[Table]:
    """Cross-dataset / domain-generalisation shape: the source row, then targets; Average over targets only.

    The papers' averages (CoCoOp Tables 2 and 3) leave the source dataset out, so this one does too.
    """
    stats = transfer_stats(results, ddof)
    if not stats:
        return []
    own = fewshot_stats(results, ddof)
    zs = zero_shot_methods(stats) | zero_shot_methods(own)
    sources = order_datasets(k[1] for k in stats)
    tables = []
    for src in sources:
        keys = [k for k in stats if k[1] == src]
        shots = sorted({k[2] for k in keys if k[2] is not None}) or [None]
        for k in shots:
            methods = order_methods((key[0] for key in keys if key[0] in zs or key[2] == k), zs)
            targets = order_datasets(key[3] for key in keys)
            src_row = (f"{src} (source)", [Cell.of(own.get((m, src, None if m in zs else k))) for m in methods])
            rows = [(t, [Cell.of(stats.get((m, src, None if m in zs else k, t))) for m in methods]) for t in targets]
            avg = [_average_cell([cells[j].mean for _, cells in rows], len(rows)) for j in range(len(methods))]
            slug = f"transfer_{src}_{'zeroshot' if k is None else k}{'' if k is None else 'shots'}"
            table = Table(f"Transfer from {src} (%), {_shots_text(k)}; Average over the targets", slug, methods,
                          [src_row, *rows, ("Average", avg)])
            tables.append(_finish(table, ddof))
    return tables


def build_tables(results: list[Result], ddof: int = 0) -> list[Table]:
    """Every table the results support: few-shot, base-to-novel and transfer, in that order."""
    return fewshot_tables(results, ddof) + base2novel_tables(results, ddof) + transfer_tables(results, ddof)


# ----- rendering ---------------------------------------------------------------------------------------

def format_cell(cell: Cell, with_std: bool = True) -> str:
    if cell.mean is None:
        return GAP
    text = f"{cell.mean:.2f}"
    if with_std and cell.std is not None and math.isfinite(cell.std):
        text += f" ± {cell.std:.2f}"
    return text + cell.mark


def to_markdown(table: Table, with_std: bool = True) -> str:
    head = ["Dataset", *table.columns]
    lines = [f"### {table.title}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|"]
    for label, cells in table.rows:
        shown = f"**{label}**" if label == "Average" else label
        lines.append("| " + " | ".join([shown] + [format_cell(c, with_std) for c in cells]) + " |")
    lines.append("")
    lines += [f"_{note}_  " for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """Same shape as the Markdown, numbers unformatted: ``<column>``, ``<column> std``, ``<column> n``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset"] + [f"{c}{suffix}" for c in table.columns for suffix in ("", " std", " n")])
    for label, cells in table.rows:
        row: list[object] = [label]
        for c in cells:
            finite_std = c.std is not None and math.isfinite(c.std)
            row += ["" if c.mean is None else round(c.mean, 4), round(c.std, 4) if finite_std else "",
                    "" if c.n is None else c.n]
        writer.writerow(row)
    return buf.getvalue()


def write_tables(tables: list[Table], out: str | Path, with_std: bool = True) -> list[Path]:
    """``report.md`` with every table plus one CSV per table; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    md.write_text("\n".join(to_markdown(t, with_std) for t in tables))
    paths = [md]
    for t in tables:
        path = out / f"{t.slug}.csv"
        path.write_text(to_csv(t))
        paths.append(path)
    return paths
