"""Start FCN Studio: `python main.py [DATASET]` (see `python main.py --help`)."""

import sys

from fcnstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
