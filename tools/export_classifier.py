"""Export a finished run's classifier for plain open_clip: ``python tools/export_classifier.py runs/x``."""

import sys

from vlcat.cli import export_classifier_main

if __name__ == "__main__":
    sys.exit(export_classifier_main())
