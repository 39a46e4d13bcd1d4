"""One training step of each prompt learner, the reference recipe vs vlcat's: ``python tools/bench_train_step.py``.

The command is ``vlcat.cli.bench.train_step.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.train_step import main

if __name__ == "__main__":
    sys.exit(main())
