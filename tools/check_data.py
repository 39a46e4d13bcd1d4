"""Check datasets under a data root before training: ``python tools/check_data.py --root /data oxford_pets``."""

import sys

from vlcat.cli.data import main

if __name__ == "__main__":
    sys.exit(main())
