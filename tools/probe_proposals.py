"""Share of usable LLM proposals per meta-prompt style: ``python tools/probe_proposals.py [--repeats 8]``.

The command is ``vlcat.cli.bench.proposals.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.bench.proposals import main

if __name__ == "__main__":
    sys.exit(main())
