"""``python -m streamdeblur`` and the ``streamdeblur`` console script.

The command line imports its own modules and rich before it can handle anything (PyTorch, OpenCV
and PyAV load later, when a command needs them); a Ctrl-C in that time interrupted the imports with a
20–40-line traceback. Here the imports are inside a guard: one line and exit 130, as a Ctrl-C at any
later moment gives.
"""

from __future__ import annotations

import sys

EXIT_SIGINT = 130  # as streamdeblur.errors.EXIT_SIGINT (not imported: this module must stay light)


def main() -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("streamdeblur: interrupted (while starting)", file=sys.stderr)
        return EXIT_SIGINT
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
