"""Zero-shot vs a 16-shot linear probe of the toy CLIP per style: ``python tools/probe_toy_world.py --suite``.

The command is ``vlcat.cli.toy_probe.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.toy_probe import main

if __name__ == "__main__":
    sys.exit(main())
