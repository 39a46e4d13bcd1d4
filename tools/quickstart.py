"""The offline quickstart (what `make quickstart` runs); see vlcat/cli/quickstart.py."""

import sys

from vlcat.cli.quickstart import main

if __name__ == "__main__":
    sys.exit(main())
