"""Few-shot sweep (also cross-dataset / domain generalisation):
``python tools/fewshot.py [-c configs/experiments/fewshot.yaml] --set data.root=DATA seeds=[1,2,3]``."""

import sys

from vlcat.cli.sweeps import fewshot_main

if __name__ == "__main__":
    sys.exit(fewshot_main())
