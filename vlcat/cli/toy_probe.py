"""Zero-shot vs a 16-shot linear probe of the toy CLIP on the world's tasks, per style variant.

Each argument is a YAML mapping of ``Style`` fields to override (none: the task as it ships), e.g.

    python tools/probe_toy_world.py --suite                      # every task and shift as shipped (cards)
    python tools/probe_toy_world.py --task background '{}' '{p_blur: 0.0}'
    python tools/probe_toy_world.py '{}' '{outline_width: 0.0}' '{outline_width: 0.031}'
    python tools/probe_toy_world.py '{p_clutter: 1.0, clutter_count: [4, 7]}' '{lighting: {dim: 1.0}}'
    python tools/probe_toy_world.py --assets /tmp/old_toy '{}'     # other weights (toy_clip.json + .safetensors)

The probe's accuracy over zero-shot is the room prompt tuning has (see vlcat/synth/probe.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from vlcat.errors import VlcatError
from vlcat.synth.probe import probe, styled_task
from vlcat.synth.tasks import DEFAULT_TASK, SHIFTS, TASKS
from vlcat.synth.toy_model import ASSETS_DIR


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("styles", nargs="*", default=["{}"], help="YAML mappings of Style fields to override")
    p.add_argument("--task", "-t", default=DEFAULT_TASK, help=f"task or shift (default {DEFAULT_TASK}); "
                   f"known: {', '.join([*TASKS, *SHIFTS])}")
    p.add_argument("--suite", action="store_true", help="every task and shift as shipped (ignores styles)")
    p.add_argument("--assets", type=Path, default=ASSETS_DIR, help="folder with toy_clip.json/.safetensors")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--test-per-class", type=int, default=None,
                   help="test images per class (default: 40, or the task's own test size if larger)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=float, default=10.0, dest="c", help="inverse L2 strength of the probe")
    a = p.parse_args(argv)
    jobs: list[tuple[str, str]] = [(t, "{}") for t in [*TASKS, *SHIFTS]] if a.suite else \
        [(a.task, spec) for spec in a.styles]
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
    print(f"{'task':<22} {'style overrides':<32} {'chance':>7} {'base ZS':>8} {'base LP':>8} {'room':>6} "
          f"{'novel ZS':>9}")
    for name, spec, task in tasks:
        per_class = a.test_per_class or max(40, task.test_per_class)
        r = probe(task, assets_dir=a.assets, shots=a.shots, test_per_class=per_class, seed=a.seed, c=a.c)
        room = r["base_linear_probe"] - r["base_zero_shot"]
        print(f"{name:<22} {spec:<32} {r['chance_base']:7.1%} {r['base_zero_shot']:8.1%} "
              f"{r['base_linear_probe']:8.1%} {room:+6.1%} {r['novel_zero_shot']:9.1%}", flush=True)
    return 0

