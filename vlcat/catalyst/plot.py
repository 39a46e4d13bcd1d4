"""The loss curve of a run with its LLM stages and restarts marked, drawn from ``metrics.jsonl`` alone.

Reading only the run folder means the figure can be redrawn for any finished (or interrupted) run,
without the model, e.g. ``plot_loss_curve("runs/x")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlcat.train.checkpoint import atomic_write_bytes


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill is skipped, not fatal for a plot
    return out


def plot_loss_curve(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``loss_curve.png`` (training loss over steps; LLM stages as vertical lines, restarts as
    stars at the chosen text's loss) and return its path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    steps = [r for r in records if r.get("type") == "step"]
    epochs = [r for r in records if r.get("type") == "epoch"]
    stages = [r for r in records if r.get("type") == "llm_stage"]

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if steps:
        ax.plot([r["global_step"] for r in steps], [r["loss"] for r in steps], lw=0.8, alpha=0.6,
                label="training loss (logged steps)")
    if epochs:
        ax.plot([r["global_step"] for r in epochs], [r["loss"] for r in epochs], "o-", ms=3, lw=1.2,
                label="epoch mean loss")
    labelled: set[str] = set()
    for r in stages:
        ok = r.get("status") == "ok"
        kind = "LLM stage" if ok else "LLM stage (failed)"
        ax.axvline(r["global_step"], color="tab:green" if ok else "tab:red", ls="--", lw=1,
                   label=None if kind in labelled else kind)
        labelled.add(kind)
        if r.get("restarted") and r.get("chosen_loss") is not None:
            ax.plot([r["global_step"]], [r["chosen_loss"]], "*", color="tab:purple", ms=12,
                    label=None if "restart" in labelled else "restart (chosen text's loss)")
            labelled.add("restart")
    ax.set_xlabel("global step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(run_dir.name)
    if ax.has_data():
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    target = Path(out) if out is not None else run_dir / "loss_curve.png"
    try:
        atomic_write_bytes(target, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return target
