"""Evaluate a finished run elsewhere: ``python tools/eval.py runs/x --subsample novel``."""

import sys

from vlcat.cli.train import eval_main

if __name__ == "__main__":
    sys.exit(eval_main())
