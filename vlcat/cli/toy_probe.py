"""Zero-shot vs a 16-shot linear probe of the toy CLIP on the world's tasks, per style variant.

Each argument is a YAML mapping of ``Style`` fields to override (none: the task as it ships), e.g.

    python tools/probe_toy_world.py --suite                      # the calibration table (issue 23's targets)
    python tools/probe_toy_world.py --suite --no-coop            # without the CoOp runs (a minute faster)
    python tools/probe_toy_world.py --task background '{}' '{p_blur: 0.0}'
    python tools/probe_toy_world.py '{}' '{outline_width: 0.0}' '{outline_width: 0.031}'
    python tools/probe_toy_world.py --assets /tmp/old_toy '{}'     # other weights (toy_clip.json + .safetensors)

The probe's accuracy over zero-shot is the room prompt tuning has (see vlcat/synth/probe.py). With
``--suite`` each task also gets the base zero-shot of its card's hand-written domain prompts (best and mean:
how much wording moves the model, the lever an LLM can pull) and 16-shot CoOp on its base classes (the
offline base-to-novel suite's CoOp, on the same test images), and the table ends with the calibration
targets: the best domain prompt >= the template + 3 points on at least 3 tasks, and CoOp >= the best
domain prompt + 5 points on every task.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from vlcat.errors import VlcatError
from vlcat.synth.probe import probe, styled_task
from vlcat.synth.tasks import DEFAULT_TASK, SHIFTS, TASKS
from vlcat.synth.toy_model import ASSETS_DIR

PROMPT_GAIN_TARGET = 0.03
"""The best hand-written domain prompt over the template, on base classes: CLIP's prompt-engineering gains."""
PROMPT_GAIN_TASKS = 3
COOP_MARGIN_TARGET = 0.05
"""16-shot CoOp over the best hand-written prompt: the task must stay a few-shot learning problem."""


def coop_base_accuracy(assets: Path, seeds: list[int], cards: list[str] | None = None) -> dict[str, list[float]]:
    """Base-class test accuracy of 16-shot CoOp per task card, one value per seed: the offline
    base-to-novel suite's own CoOp runs (``configs/experiments/offline/base2novel.yaml``), on its five
    tasks or on ``cards``."""
    from vlcat.bench.suite import load_suite, plan_suite, run_suite
    from vlcat.results import load_results

    with tempfile.TemporaryDirectory(prefix="vlcat-probe-") as tmp:
        overrides = [f"seeds=[{', '.join(map(str, seeds))}]", f"output_dir={tmp}/runs"]
        if cards:
            overrides.append(f"datasets=[{', '.join(cards)}]")
        folder = Path(assets).resolve()
        run_overrides = [f"data.root={tmp}/data"]
        if folder != ASSETS_DIR.resolve():  # other weights: the same architecture given as data
            run_overrides += [f"model.config={folder / 'toy_clip.json'}",
                              f"model.checkpoint={folder / 'toy_clip.safetensors'}"]
        sweep = load_suite("base2novel", ["coop"], overrides, run_overrides)
        run_suite(plan_suite(sweep), Path(tmp) / "data", progress=False)
        results, _ = load_results(sweep.output_dir)
    out: dict[str, list[float]] = {}
    for r in results:
        if r.method == "coop" and r.subsample == "base" and r.dataset == r.source:
            out.setdefault(r.dataset, []).append(r.accuracy / 100.0)
    return out


def _pct(v: float | None, width: int, signed: bool = False) -> str:
    if v is None:
        return f"{'-':>{width}}"
    return f"{v:+{width}.1%}" if signed else f"{v:{width}.1%}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("styles", nargs="*", default=["{}"], help="YAML mappings of Style fields to override")
    p.add_argument("--task", "-t", default=DEFAULT_TASK, help=f"task or shift (default {DEFAULT_TASK}); "
                   f"known: {', '.join([*TASKS, *SHIFTS])}")
    p.add_argument("--suite", action="store_true", help="every task and shift as shipped (ignores styles)")
    p.add_argument("--no-coop", action="store_true", help="with --suite: skip the 16-shot CoOp column")
    p.add_argument("--coop-seeds", default="1,2,3", help="with --suite: CoOp's seeds (default 1,2,3)")
    p.add_argument("--assets", type=Path, default=ASSETS_DIR, help="folder with toy_clip.json/.safetensors")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--test-per-class", type=int, default=None,
                   help="test images per class (default: the task's written test size, so every column is "
                        "measured on the images the suite's runs are tested on)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=float, default=10.0, dest="c", help="inverse L2 strength of the probe")
    a = p.parse_args(argv)
    jobs: list[tuple[str, str]] = [(t, "{}") for t in [*TASKS, *SHIFTS]] if a.suite else \
        [(a.task, spec) for spec in a.styles]
    try:
        coop_seeds = [int(s) for s in a.coop_seeds.split(",") if s.strip()]
    except ValueError:
        print(f"error: --coop-seeds {a.coop_seeds!r} must be comma-separated integers, e.g. 1,2,3", file=sys.stderr)
        return 2
    tasks = []
    for name, spec in jobs:  # every argument is checked before the first (slow) probe
        try:
            overrides = yaml.safe_load(spec) or {}
        except yaml.YAMLError:
            overrides = None
        if not isinstance(overrides, dict):
            print(f"error: {spec!r} is not a mapping of Style fields, e.g. '{{outline_width: 0.024}}'",
                  file=sys.stderr)
            return 2
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        try:
            tasks.append((name, spec, styled_task(name, **overrides)))
        except VlcatError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    coop: dict[str, list[float]] = {}
    if a.suite and not a.no_coop and coop_seeds:
        print(f"training 16-shot CoOp on each task's base classes (seeds {', '.join(map(str, coop_seeds))})...",
              file=sys.stderr, flush=True)
        try:
            coop = coop_base_accuracy(a.assets, coop_seeds)
        except VlcatError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(f"{'task':<22} {'style overrides':<24} {'chance':>7} {'template':>9} {'domain best':>12} "
          f"{'mean':>6} {'best-tmpl':>10} {'LP16':>6} {'CoOp16':>7} {'CoOp-best':>10} {'novel ZS':>9}")
    gains, margins = [], []
    for name, spec, task in tasks:
        per_class = a.test_per_class or task.test_per_class
        r = probe(task, assets_dir=a.assets, shots=a.shots, test_per_class=per_class, seed=a.seed, c=a.c)
        dom = r["base_domain"]
        best = max(dom.values()) if dom else None
        mean = sum(dom.values()) / len(dom) if dom else None
        gain = None if best is None else best - r["base_zero_shot"]
        coop_acc = sum(coop[task.card]) / len(coop[task.card]) if task.card in coop else None
        margin = None if coop_acc is None or best is None else coop_acc - best
        if gain is not None:
            gains.append(gain)
        if margin is not None:
            margins.append(margin)
        print(f"{name:<22} {spec:<24} {r['chance_base']:7.1%} {_pct(r['base_zero_shot'], 9)} {_pct(best, 12)} "
              f"{_pct(mean, 6)} {_pct(gain, 10, True)} {_pct(r['base_linear_probe'], 6)} {_pct(coop_acc, 7)} "
              f"{_pct(margin, 10, True)} {_pct(r['novel_zero_shot'], 9)}", flush=True)
    if a.suite:
        met = sum(g >= PROMPT_GAIN_TARGET for g in gains)
        print(f"\ntarget 1: best domain prompt >= template + {PROMPT_GAIN_TARGET:.0%} on >= {PROMPT_GAIN_TASKS} "
              f"tasks: {met} of {len(gains)} -> {'met' if met >= PROMPT_GAIN_TASKS else 'NOT met'}")
        if margins:
            ok = sum(m >= COOP_MARGIN_TARGET for m in margins)
            print(f"target 2: 16-shot CoOp >= best domain prompt + {COOP_MARGIN_TARGET:.0%} on every task: "
                  f"{ok} of {len(margins)} -> {'met' if ok == len(margins) else 'NOT met'}")
        print("(base classes; CoOp is the mean over its seeds, on the same test images as the other columns)")
    return 0
