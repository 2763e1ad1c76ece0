"""``python -m monai_spacetx <command>``: the command line (see :mod:`monai_spacetx.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m monai_spacetx"))
