"""Import a Dassl prompt-learner checkpoint (CoOp, CoCoOp, KgCoOp, ProGrad) as a vlcat run folder:
``python tools/import_checkpoint.py output/dtd/CoOp/seed1 -c configs/learners/coop.yaml data.dataset=dtd -o runs/x``."""

import sys

from vlcat.cli.interop import import_main

if __name__ == "__main__":
    sys.exit(import_main())
