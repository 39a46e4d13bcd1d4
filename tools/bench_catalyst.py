"""Wall time of LLM stages vs gradient epochs in a real CoOp + catalyst run (server start excluded).

    python tools/bench_catalyst.py                       # vlcat-toy on synth_shapes, local vLLM (reused/started)
    python tools/bench_catalyst.py --epochs 50 --set llm.base_url=http://127.0.0.1:8000/v1

Prints one JSON object; ``llm_share_of_run`` is the fraction of the run's wall time spent in LLM stages.
"""

from __future__ import annotations

import argparse
import json
import sys

from vlcat.catalyst.bench import bench_catalyst
from vlcat.errors import VlcatError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="optim.max_epoch of the run (default 20)")
    parser.add_argument("--shots", type=int, default=16, help="images per class (default 16)")
    parser.add_argument("--work-dir", help="folder for data, caches and the run (default: a temp folder)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run-config overrides")
    args = parser.parse_args(argv)
    try:
        result = bench_catalyst(epochs=args.epochs, shots=args.shots, overrides=args.set, work_dir=args.work_dir)
    except VlcatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
