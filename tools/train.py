"""Train and evaluate one run: ``python tools/train.py -c configs/experiments/quickstart.yaml key=value``."""

import sys

from vlcat.cli.train import train_main

if __name__ == "__main__":
    sys.exit(train_main())
