"""What a run ran on, written into every ``record.json`` under ``environment``, and checked by reports.

"I cannot reproduce the paper" is the first complaint in the CoOp-family trackers, and the usual cause is
something nobody wrote down: another torch or open_clip, another device, another thread count (CPU sums
are not associative), another split file, another few-shot sample. A record names them all, and
``vlcat-report`` warns when runs it averages into one cell differ in any of them, or when methods compared
on the same seed trained on different few-shot samples.

(The numeric precision a run resolved is recorded by the run itself, next to this block.)
"""

from __future__ import annotations

import platform
import subprocess
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

import vlcat
from vlcat.data.loading import lists_digest
from vlcat.data.types import DatasetSplits
from vlcat.rundir import RECORD, read_json

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Keys that must agree between the seeds of one table cell (the few-shot sample differs by seed on purpose).
SAME_IN_A_CELL = ("vlcat_version", "git_commit", "torch", "torchvision", "open_clip", "python", "device",
                  "threads", "precision", "split_sha256")


def git_commit(repo: Path = REPO_ROOT) -> str | None:
    """The checkout's commit, with ``-dirty`` when tracked files were changed; None outside a git checkout."""
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty", "--abbrev=40"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def device_name(device: Any) -> str:
    """``cuda:0 NVIDIA H200`` or ``cpu <model name>``: the hardware, not just the device type."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)}"
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{device.type} {cpu or platform.processor() or platform.machine()}".strip()


def run_environment(device: Any, splits: DatasetSplits, precision: str | None = None) -> dict[str, Any]:
    """The ``environment`` block of a run record (``splits``: the run's data after few-shot sampling;
    ``precision``: the resolved ``model.precision``, also at the record's top level)."""
    import torch

    return {
        "vlcat_version": vlcat.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "open_clip": _version("open_clip_torch"),
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "split_sha256": splits.lists_sha256 or None,
        "fewshot_sha256": lists_digest(splits, ("train", "val")),
    }


def _run_dir(result_path: str) -> Path:
    path = Path(result_path)
    return path.parent if path.name == RECORD else path.parent.parent  # <run>/eval/<name>.json


def environment_warnings(results: list[Any]) -> list[str]:
    """One line per difference a report would hide: a key of :data:`SAME_IN_A_CELL` that differs between
    the runs averaged into one cell, and few-shot samples that differ between methods on the same dataset,
    classes, shots and seed. Runs recorded before environments were (no block) count as 'not recorded'."""
    envs: dict[Path, dict[str, Any]] = {}
    cells: dict[tuple[Any, ...], set[Path]] = defaultdict(set)
    samples: dict[tuple[Any, ...], set[Path]] = defaultdict(set)
    for r in results:
        run = _run_dir(r.path)
        if run not in envs:
            rec = read_json(run / RECORD)
            env = rec.get("environment") if isinstance(rec, dict) else None
            envs[run] = env if isinstance(env, dict) else {}
        cells[(r.method, r.source, r.train_subsample, r.dataset, r.subsample, r.shots)].add(run)
        if r.shots is not None:
            samples[(r.source, r.train_subsample, r.shots, r.seed)].add(run)
    lines: list[str] = []
    for (method, source, _, dataset, subsample, shots), runs in sorted(cells.items(), key=str):
        trained = "" if source == dataset else f" (trained on {source})"
        where = f"{method}{trained} on {dataset} ({subsample} classes, " \
                f"{'zero-shot' if shots is None else f'{shots} shots'})"
        for key in SAME_IN_A_CELL:
            line = _differs(key, runs, envs)
            if line:
                lines.append(f"runs averaged for {where} differ in {line}")
    for (source, subsample, shots, seed), runs in sorted(samples.items(), key=str):
        line = _differs("fewshot_sha256", runs, envs)
        if line:
            lines.append(f"methods on {source} ({subsample} classes, {shots} shots, seed {seed}) trained on "
                         f"different few-shot samples: {line}")
    return lines


def _differs(key: str, runs: set[Path], envs: dict[Path, dict[str, Any]]) -> str | None:
    """``key: A (2 runs, e.g. DIR) vs B (1 run, e.g. DIR)`` when the runs disagree, else None."""
    by_value: dict[str, list[Path]] = defaultdict(list)
    for run in sorted(runs):
        value = envs[run].get(key, "not recorded") if envs[run] else "not recorded"
        by_value[str(value)].append(run)
    if len(by_value) < 2:
        return None
    parts = [f"{v} ({len(rs)} run{'s' if len(rs) > 1 else ''}, e.g. {rs[0]})" for v, rs in by_value.items()]
    return f"{key}: {' vs '.join(parts)}"
