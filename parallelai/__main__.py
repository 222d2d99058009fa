"""`python -m parallelai` is the `parallelai` command."""

import sys

from parallelai.cli.entry import main

sys.exit(main())
