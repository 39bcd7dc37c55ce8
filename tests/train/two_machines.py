"""``fcnstudio`` started by torchrun in a folder of its own for each process: two machines, in a test.

    torchrun --standalone --nproc-per-node 2 tests/train/two_machines.py DIR0 DIR1 train ds ...

Process RANK works in DIR<RANK>, so a relative dataset path names each "machine's" own copy of the
dataset, as it does when a run spans machines; a test breaks one copy to see what the run does.
"""

import os
import sys

os.chdir(sys.argv[1 + int(os.environ["RANK"])])

from fcnstudio.cli import main  # noqa: E402 - after the chdir, as on each machine

sys.exit(main(sys.argv[3:]))
