"""Tables and plots of finished runs: ``python tools/report.py runs/fewshot [--out DIR] [--ddof 1]``."""

import sys

from vlcat.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
