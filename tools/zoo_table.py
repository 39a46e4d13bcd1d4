"""The README's model-family table: ``python tools/zoo_table.py [--check]``.

The command is ``vlcat.cli.zoo_table.main`` (help: ``--help``); this script only calls it."""

import sys

from vlcat.cli.zoo_table import main

if __name__ == "__main__":
    sys.exit(main())
