"""`python -m aiwall` is the `aiwall` command."""

import sys

from aiwall.cli import main

sys.exit(main())
