"""``python -m sarfeat``: the sarfeat command line (see :mod:`sarfeat.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
