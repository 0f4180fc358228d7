"""``python -m astrotinyml`` is the command-line interface."""

import sys

from .apps.cli import main

sys.exit(main())
