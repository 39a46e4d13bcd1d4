"""Two sweep folders compared run for run: ``python tools/compare_sweeps.py runs/b2n_before runs/b2n_after``.

The command is ``vlcat.cli.bench.compare_sweeps.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.compare_sweeps import main

if __name__ == "__main__":
    sys.exit(main())
