"""The numbers the training monitor's rules compare with (:mod:`.monitor`).

Why each has its value — the runs that calibrated them — is in
``docs/adr/0002-monitor-thresholds.md``; change a number there and here together.
"""

from __future__ import annotations

DEAD_SPREAD = 1e-3     # every class's probability spread under this: a dead network
ALIVE_SPREAD = 0.01    # ... and it was alive once if some class spread this much
DEAD_EVALS = 2
IMAGE_VARIES = 0.02    # a validation image varies when its intensity std (0..1 scale) reaches this
BLOWUP_FACTOR = 2.5   # a loss above this times the untrained network's is a blow-up
BLOWUP_WINDOW = 3     # ... as the median of this many steps
SANE_LR = 1e-3        # the lr a blow-up suggestion goes down to (the trainer's default)
LOW_FACTOR = 0.1       # a class is "low" below this times its true fraction
RECOVER_FACTOR = 0.5   # ... and "back" at or above this times its true fraction
COLLAPSE_EVALS = 3     # evaluations in a row
SINGLE_CLASS_TOL = 1e-6
