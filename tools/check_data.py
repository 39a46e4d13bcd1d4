"""Check datasets under a data root before training: ``python tools/check_data.py --root /data oxford_pets``."""

import sys

from vlcat.cli import check_data_main

if __name__ == "__main__":
    sys.exit(check_data_main())
