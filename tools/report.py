"""Tables and plots of finished runs: ``python tools/report.py runs/fewshot [--out DIR] [--ddof 1]``."""

import sys

from vlcat.cli import report_main

if __name__ == "__main__":
    sys.exit(report_main())
