"""`python -m meshguard` is the same as the `meshguard` console script."""

import sys

from meshguard.cli import main

sys.exit(main())
