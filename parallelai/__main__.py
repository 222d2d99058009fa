"""`python -m parallelai` is the `parallelai` command."""

import sys

from parallelai.cli.main import main

sys.exit(main())
