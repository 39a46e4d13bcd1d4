"""Sequential vs Ray on the same 8-run offline sweep: ``python tools/bench_sweep.py [--epochs 10 --cpus 2]``.

The command is ``vlcat.cli.bench.sweep.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.sweep import main

if __name__ == "__main__":
    sys.exit(main())
