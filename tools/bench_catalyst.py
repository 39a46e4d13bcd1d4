"""The catalyst benchmarks: ``compare`` (CoOp vs the catalyst, paired by seed) and ``timing``.

The command is ``vlcat.cli.bench.catalyst.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.catalyst import main

if __name__ == "__main__":
    sys.exit(main())
