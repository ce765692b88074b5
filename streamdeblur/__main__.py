"""``python -m streamdeblur`` — same as the ``streamdeblur`` command."""

import sys

from ._entry import main

sys.exit(main())
