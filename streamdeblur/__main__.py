"""``python -m streamdeblur`` — same as the ``streamdeblur`` command."""

import sys

from .cli import main

sys.exit(main())
