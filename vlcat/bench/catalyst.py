"""The catalyst benchmark that can tell: CoOp against the catalyst's modes and its controls, paired by seed.

Settings on the offline world (toy CLIP, synth_shapes, the quickstart's training settings: n_ctx 4 from
"a photo of a", 30 epochs, lr 0.5, 4 cached augmentation views, crops >= 50 %):

* ``b2n16``: base-to-novel at 16 shots (train on the 24 base classes; Base, Novel, HM);
* ``fs1`` / ``fs4``: few-shot on all 48 classes at 1 and 4 shots (test accuracy). At 1 shot the batch is 8
  (48 images; batch 32 would give one step an epoch), so that both few-shot settings train 180 steps.

Methods: ``coop``; ``paper`` (configs/catalyst/coop_catalyst_paper.yaml, the reproduction); ``lookahead``
(configs/catalyst/coop_catalyst_lookahead.yaml); and its two controls ``random`` (random words and
mutated snapshots instead of the LLM) and ``none`` (no proposals: snapshots, template and history only),
the floors; and ``oracle`` (the card's hand-written ``domain_prompts`` instead of the LLM), the ceiling of what a
perfect LLM could give the same race.

Every (setting, method, seed) is a run folder of a sweep, so the benchmark is resumable: a rerun skips what
finished and resumes what did not. The report pairs each method with CoOp *on the same seed* (same
few-shot split, same initialisation, same batches), so the seed-to-seed spread of the split cancels:
mean difference, a t-based 95 % interval, and wins/ties/losses with the sign test's p-value. It also
prints the LLM-stage share of wall time (what the stages cost beyond plain training: their time less the
look-ahead steps training keeps; in brackets the LLM requests' part of it) and, from the stage logs, the
usable-proposal share, how often a text won the race and from where, and how many races a text led on
validation by too little to switch ("held"). With several datasets, one more table pools the pairs
(dataset, seed).
Nothing here is tuned on the test split: the settings above were fixed before the first run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from vlcat.catalyst.console import llm_unreached
from vlcat.config import CONFIG_DIR
from vlcat.errors import ConfigError
from vlcat.results import harmonic_mean
from vlcat.rundir import STAGE_DIR
from vlcat.sweeps import MethodSpec, SweepConfig, SweepFailed, plan_sweep, run_sweep

BASE = ["model.name=vlcat-toy", "learner.n_ctx=4", "learner.ctx_init=a photo of a", "optim.max_epoch=30",
        "optim.lr=0.5", "optim.batch_size=32", "train.aug_views=4", "train.crop_scale_min=0.5", "train.progress=false",
        "train.epoch_lines=false"]

SETTINGS: dict[str, dict[str, Any]] = {
    "b2n16": {"protocol": "base2novel", "shots": 16, "overrides": []},
    "fs1": {"protocol": "fewshot", "shots": 1, "overrides": ["optim.batch_size=8"]},
    "fs4": {"protocol": "fewshot", "shots": 4, "overrides": []},
}

METHODS: dict[str, tuple[list[str], list[str]]] = {
    "coop": ([], []),
    # An LLM arm must run as specified: llm.required checks the endpoint before each run and stops a run
    # whose stage cannot reach it (resumable), instead of tabulating CoOp with snapshot restarts.
    "paper": (["catalyst/coop_catalyst_paper.yaml"], ["llm.required=true"]),
    "lookahead": (["catalyst/coop_catalyst_lookahead.yaml"], ["llm.required=true"]),
    "random": (["catalyst/coop_catalyst_lookahead.yaml"], ["catalyst.proposer=random"]),
    "none": (["catalyst/coop_catalyst_lookahead.yaml"], ["catalyst.proposer=none"]),
    "oracle": (["catalyst/coop_catalyst_lookahead.yaml"], ["catalyst.proposer=oracle"]),
}


def plan(output_dir: Path, settings: Sequence[str], methods: Sequence[str], seeds: Sequence[int],
         run_overrides: Sequence[str], datasets: Sequence[str] = ("synth_shapes",)) -> dict[str, SweepConfig]:
    """One sweep per setting, all under ``output_dir/<setting>``; ``datasets`` are offline task cards."""
    if not datasets:
        raise ConfigError("give at least one dataset")
    for s in settings:
        if s not in SETTINGS:
            raise ConfigError(f"unknown setting '{s}' (known: {', '.join(SETTINGS)})")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method '{m}' (known: {', '.join(METHODS)})")
    if "coop" not in methods:
        raise ConfigError("the benchmark pairs every method with coop; keep coop in --methods")
    out = {}
    for s in settings:
        spec = SETTINGS[s]
        out[s] = SweepConfig(
            protocol=spec["protocol"], output_dir=str(output_dir / s),
            base_config=[str(CONFIG_DIR / "learners" / "coop.yaml")],
            overrides=[*BASE, *spec["overrides"], *run_overrides], datasets=list(datasets), seeds=list(seeds),
            shots=[spec["shots"]],
            methods=[MethodSpec(name=m, configs=[str(CONFIG_DIR / c) for c in METHODS[m][0]],
                                overrides=list(METHODS[m][1])) for m in methods])
    return out


# ----- reading the runs ---------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    seed: int
    metric: float
    """HM for base-to-novel, test accuracy for few-shot."""
    parts: dict[str, float]
    total_s: float
    stage_s: float
    """What the LLM stages cost beyond plain training (their wall time less the kept look-ahead steps)."""
    llm_s: float = 0.0
    requested: int = 0
    accepted: int = 0
    stages: int = 0
    restarts: int = 0
    held: int = 0
    """Races whose best text ended ahead of the current context on validation, not significantly."""
    winners: Counter = field(default_factory=Counter)
    steps_s: float = 0.0
    """Wall time of the run's training steps."""
    gaps: list[float] = field(default_factory=list)
    """Per race: the current context's validation accuracy minus the finalist text's, after the look-ahead."""
    llm_raced: int = 0
    """Races with an LLM text (this stage's or an earlier stage's) among the starters."""
    requests_s: list[float] = field(default_factory=list)
    """Wall time of each LLM request the server answered (replies from the cache left out)."""
    llm_errors: int = 0
    """Stages whose LLM request failed (unreachable server, timeout): the arm did not run as specified."""
    run_dir: str = ""


LLM_SOURCES = ("llm", "oracle", "history")
"""Race starters that are proposed texts in an LLM or oracle run (history = earlier stages' best proposals)."""
PROPOSING = ("llm", "oracle")
"""Proposers whose texts stand for the LLM's (the oracle's are what a perfect LLM would write)."""


def read_outcome(run_dir: Path, protocol: str) -> RunOutcome | None:
    try:
        rec = json.loads((run_dir / "record.json").read_text())
    except (OSError, ValueError):
        return None
    acc = rec["metrics"]["test"]["accuracy"]
    if protocol == "base2novel":
        novel_files = sorted((run_dir / "eval").glob("*_novel_test.json"))
        if not novel_files:
            return None
        novel = json.loads(novel_files[0].read_text())["metrics"]["accuracy"]
        parts = {"base": acc, "novel": novel, "hm": harmonic_mean(acc, novel)}
        metric = parts["hm"]
    else:
        parts = {"acc": acc}
        metric = acc
    cat = rec.get("catalyst") or {}
    out = RunOutcome(int(rec["seed"]), float(metric), parts, float(rec["timings"]["total_s"]),
                     float(cat.get("overhead_s", cat.get("stage_s", 0.0))), float(cat.get("llm_s", 0.0)),
                     steps_s=float(rec["timings"].get("train_steps_s", 0.0)))
    out.run_dir = str(run_dir)
    for path in sorted((run_dir / STAGE_DIR).glob("stage_*.json")):
        st = json.loads(path.read_text())
        out.stages += 1
        out.llm_errors += llm_unreached(st)
        usable = st.get("usable") or {}
        if st.get("proposer") in ("llm", "random", "oracle"):
            out.requested += int(usable.get("requested", 0))
            out.accepted += int(usable.get("accepted", 0))
        llm = st.get("llm") or {}
        if llm and not llm.get("cached"):
            out.requests_s.append(float(llm["elapsed_s"]))
        dec = st.get("decision") or {}
        out.restarts += bool(dec.get("restart"))
        race = dec.get("race")
        if race is not None:
            out.winners[race["winner"]["source"]] += 1
            test = race.get("switch_test") or {}
            out.held += bool(test) and test["b"] > test["c"] and not test["switch"]
            finished = [x for x in race["starters"][1:] if x["eliminated_at"] is None]
            if finished:
                out.gaps.append(race["starters"][0]["rungs"][-1]["val_acc"] - finished[0]["rungs"][-1]["val_acc"])
            out.llm_raced += (st.get("proposer") in PROPOSING
                              and any(x["source"] in LLM_SOURCES for x in race["starters"]))
        elif dec.get("restart"):
            out.winners[(dec.get("chosen") or {}).get("source", "?")] += 1
    return out


def t_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided t-based interval of paired differences (nan bounds for fewer than 2)."""
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _mean_std(values: Sequence[float]) -> str:
    n = len(values)
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return f"{m:.2f} ± {sd:.2f}"


def _paired(a: dict[Any, RunOutcome], b: dict[Any, RunOutcome]) -> str:
    seeds = sorted(set(a) & set(b), key=str)
    if not seeds:
        return "| – | – | – |"
    diffs = [a[s].metric - b[s].metric for s in seeds]
    mean, lo, hi = t_interval(diffs)
    wins, losses = sum(d > 1e-9 for d in diffs), sum(d < -1e-9 for d in diffs)
    return (f"| {mean:+.2f} | [{lo:+.2f}, {hi:+.2f}] | {wins}/{len(diffs) - wins - losses}/{losses}"
            f"{f' (p {sign_test(wins, losses):.2g})' if wins + losses else ''} |")


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test of wins against losses (ties dropped): how surprising the split is if
    either side were equally likely to win. It needs no normality, which a few large wins among many
    exact ties (a race that rarely switches) break for the t-interval."""
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5).pvalue)


def _collect(sweep: SweepConfig) -> dict[str, dict[str, dict[int, RunOutcome]]]:
    """dataset -> method -> seed -> outcome, for the runs that finished."""
    out: dict[str, dict[str, dict[int, RunOutcome]]] = {}
    for run in plan_sweep(sweep):
        got = read_outcome(run.run_dir, sweep.protocol)
        if got is not None:
            out.setdefault(run.dataset, {}).setdefault(run.method, {})[run.seed] = got
    return out


def _table(title: str, protocol: str, methods: Sequence[str], by_method: dict[str, dict[Any, RunOutcome]]
           ) -> list[str]:
    coop = by_method.get("coop", {})
    metric = "HM" if protocol == "base2novel" else "Acc"
    head = ("| method | n | Base | Novel | HM |" if protocol == "base2novel" else "| method | n | Acc |")
    lines = [title, "",
             head + f" Δ{metric} vs CoOp (paired) | 95 % CI | W/T/L | LLM-stage share (requests) | usable | "
                    "restarts / stages | winners |",
             "|" + "---|" * (head.count("|") - 1 + 7)]
    for m in methods:
        outs = by_method.get(m, {})
        if not outs:
            continue
        vals = list(outs.values())
        broken = [o for o in vals if o.llm_errors]
        if broken:  # never tabulate an LLM arm whose LLM did not answer
            lines.append(f"| {m} | {len(vals)} | refused: {sum(o.llm_errors for o in broken)} LLM-error stage(s) in "
                         f"{len(broken)} run(s), so this arm did not run as specified; delete "
                         f"{', '.join(o.run_dir for o in broken[:3])}{' ...' if len(broken) > 3 else ''} and rerun "
                         "with a working LLM |")
            continue
        if protocol == "base2novel":
            cols = " | ".join(_mean_std([o.parts[k] for o in vals]) for k in ("base", "novel", "hm"))
        else:
            cols = _mean_std([o.parts["acc"] for o in vals])
        total = max(1e-9, sum(o.total_s for o in vals))
        share, llm_share = sum(o.stage_s for o in vals) / total, sum(o.llm_s for o in vals) / total
        req, acc = sum(o.requested for o in vals), sum(o.accepted for o in vals)
        usable = f"{acc}/{req} ({100 * acc / req:.0f} %)" if req else "–"
        stages, restarts = sum(o.stages for o in vals), sum(o.restarts for o in vals)
        held = sum(o.held for o in vals)
        winners = sum((o.winners for o in vals), Counter())
        win_txt = ", ".join(f"{k} {v}" for k, v in winners.most_common()) or "–"
        paired = _paired(outs, coop) if m != "coop" else "| – | – | – |"
        lines.append(f"| {m} | {len(vals)} | {cols} {paired} {100 * share:.1f} % ({100 * llm_share:.1f} %) | "
                     f"{usable} | {restarts} / {stages}{f' ({held} held)' if held else ''} | {win_txt} |")
    lines += _race_notes(methods, by_method)
    clean = {m for m, outs in by_method.items() if not any(o.llm_errors for o in outs.values())}
    for a, b in (("lookahead", "random"), ("lookahead", "none"), ("random", "none"), ("oracle", "lookahead"),
                 ("oracle", "none")):
        if a in clean and b in clean:
            lines.append(f"\n{a} − {b} (paired {metric}): {_paired(by_method[a], by_method[b]).strip('| ')}")
    lines.append("")
    return lines


def _race_notes(methods: Sequence[str], by_method: dict[str, dict[Any, RunOutcome]]) -> list[str]:
    """What the stage logs say beside the table: training-step time, how far texts trail after the
    look-ahead (and lead where they took over), how often LLM texts raced and won, LLM request time."""
    out = []
    for m in methods:
        vals = list(by_method.get(m, {}).values())
        if not vals:
            continue
        parts = [f"training steps {median(o.steps_s for o in vals):.1f} s a run (median)"]
        gaps = [g for o in vals for g in o.gaps]
        if gaps:
            leads = [-g for g in gaps if g < 0]
            parts.append(f"after the look-ahead the current context is {median(gaps):+.1f} validation points from the "
                         f"finalist text (median of {len(gaps)} races; + = ahead)")
            if leads:
                parts.append(f"leads by {min(leads):.1f}-{max(leads):.1f} in the {len(leads)} it led")
        raced = sum(o.llm_raced for o in vals)
        if raced:
            won = sum(o.winners[src] for o in vals for src in LLM_SOURCES)
            parts.append(f"{'oracle' if m == 'oracle' else 'LLM'} texts started {raced} races and won {won}")
        times = [t for o in vals for t in o.requests_s]
        if times:
            parts.append(f"LLM request {median(times):.2f} s (median of {len(times)} uncached)")
        out.append(f"- {m}: " + "; ".join(parts) + ".")
    return ["", *out] if out else []


def report(sweeps: dict[str, SweepConfig]) -> str:
    """The Markdown report of whatever has finished so far: one table per setting and dataset, and with
    several datasets one more whose pairs are (dataset, seed)."""
    lines: list[str] = []
    for name, sweep in sweeps.items():
        methods = [x.name for x in sweep.methods]
        found = _collect(sweep)
        for dataset in sweep.datasets:
            lines += _table(f"### {name} ({dataset}, {sweep.protocol}, {sweep.shots[0]} shots)", sweep.protocol,
                            methods, found.get(dataset, {}))
        if len(sweep.datasets) > 1:
            pooled: dict[str, dict[Any, RunOutcome]] = {}
            for dataset, by_method in found.items():
                for m, outs in by_method.items():
                    pooled.setdefault(m, {}).update({(dataset, seed): o for seed, o in outs.items()})
            lines += _table(f"### {name} (all {len(sweep.datasets)} datasets, pairs = dataset × seed)",
                            sweep.protocol, methods, pooled)
    return "\n".join(lines)


def run(sweeps: dict[str, SweepConfig], on_step: Callable[[Any], None] | None = None, backend: Any = None) -> None:
    """Train (or skip/resume) every run, setting by setting, methods interleaved by seed so a partial
    benchmark always holds complete pairs. A failed run does not stop the others; the benchmark stops with
    :class:`~vlcat.sweeps.SweepFailed` after the last setting when any failed."""
    failed: list[Any] = []
    for sweep in sweeps.values():
        runs = sorted(plan_sweep(sweep), key=lambda r: (r.seed, [m.name for m in sweep.methods].index(r.method)))
        try:
            run_sweep(sweep, runs=runs, on_step=on_step, backend=backend)
        except SweepFailed as exc:
            failed += exc.steps
    if failed:
        raise SweepFailed(failed)


def say(msg: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)
