"""Accuracy on the offline world, no download: the quickstart sweep over 3 seeds, or ``--suite PROTOCOL``.

The command is ``vlcat.cli.bench.offline.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.offline import main

if __name__ == "__main__":
    sys.exit(main())
