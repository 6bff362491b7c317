"""`python -m rnnlab ...` (and `torchrun ... -m rnnlab ...`) runs the command line."""

import sys

from .cli import main

sys.exit(main())
