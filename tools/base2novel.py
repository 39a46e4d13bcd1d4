"""Base-to-novel sweep: ``python tools/base2novel.py [-c configs/experiments/base2novel.yaml] --set data.root=DATA``."""

import sys

from vlcat.cli.sweeps import base2novel_main

if __name__ == "__main__":
    sys.exit(base2novel_main())
