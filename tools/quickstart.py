"""The offline quickstart (what `make quickstart` runs); see vlcat/quickstart.py."""

import sys

from vlcat.quickstart import main

if __name__ == "__main__":
    sys.exit(main())
