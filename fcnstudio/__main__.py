"""`python -m fcnstudio` runs the same CLI as the `fcnstudio` command."""

import sys

from fcnstudio.cli import main

sys.exit(main())
