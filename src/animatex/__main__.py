"""`python -m animatex ...` (and `torchrun -m animatex ...`): the `animatex` command."""

import sys

from animatex.cli import main

sys.exit(main())
