"""Export a finished run's classifier for plain open_clip: ``python tools/export_classifier.py runs/x``."""

import sys

from vlcat.cli.interop import export_main

if __name__ == "__main__":
    sys.exit(export_main())
