"""Run the registry checks on every open_clip model family and write the README's family table.

    python tools/zoo_table.py            # checks every family (~3 min on 2 CPU cores), rewrites README.md
    python tools/zoo_table.py --check    # same checks, exit 1 if README.md's table differs

The checks are ``vlcat.zoo.check_family``, the ones ``tests/models/test_zoo.py`` asserts; a family whose
outcome differs from what ``vlcat.zoo.FAMILIES`` declares stops the script before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vlcat.zoo import (
    FAMILIES,
    TABLE_END,
    TABLE_START,
    check_family,
    render_table,
    replace_table,
    representatives,
)

#: The checkout the README belongs to (vlcat/cli/zoo_table.py -> the repository root).
REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with README.md instead of writing it")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # open_clip warns once per model that it has no pretrained weights
    results = {}
    for key, name in representatives().items():
        res = check_family(key, name)
        print(f"{key:16s} {name:28s} {res.outcome:8s} diff={res.max_diff:.1e} {res.seconds:5.1f}s", flush=True)
        if res.outcome != FAMILIES[key].outcome:
            print(f"error: {key} is {res.outcome}, vlcat.zoo.FAMILIES says {FAMILIES[key].outcome}: {res.detail}",
                  file=sys.stderr)
            return 1
        results[key] = res
    text = args.readme.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        print(f"error: {args.readme} has no zoo-table markers", file=sys.stderr)
        return 2
    new = replace_table(text, render_table(results))
    if args.check:
        return 0 if new == text else 1
    args.readme.write_text(new)
    return 0

