"""The ``streamdeblur`` command (also ``python -m streamdeblur``): parse, dispatch, and turn any
exception into one line and an exit code (:func:`streamdeblur.errors.exit_code`, the only table).

Exit codes: 0 done; 1 processing failed; 2 bad usage or configuration; 3 unreadable input;
4 output cannot be written; 5 unusable weights; 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM). Errors are one line on stderr (``--debug`` adds the traceback).

One module per command (``NAME``, ``HELP``, ``add_arguments(parser)``, ``run(args) -> exit code``);
this package is the only one that knows the terminal.
"""

from __future__ import annotations

import sys

from ..errors import EXIT_SIGINT, Interrupted, exit_code, one_line
from . import batch, bench, data, eval, info, models, parser, run, train, webcam
from .console import display, err, error

#: the commands, in the order ``--help`` lists them
COMMANDS = {m.NAME: m for m in (run, webcam, batch, info, models, bench, data, train, eval)}


def build_parser():
    """The ``streamdeblur`` parser with every command of :data:`COMMANDS`."""
    return parser.build_parser(list(COMMANDS.values()))


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the parser is built (a traceback, as in the imports before it)
        print("streamdeblur: interrupted (while starting)", file=sys.stderr)
        return EXIT_SIGINT
    display.quiet, display.interval = bool(args.quiet), args.progress_interval
    display.debug = bool(args.debug)
    try:
        return COMMANDS[args.command].run(args)
    except Interrupted as exc:  # said already, with what was kept
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_SIGINT
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if args.debug:
            import traceback

            traceback.print_exc()
        error(one_line(exc))
        return exit_code(exc)


__all__ = ["COMMANDS", "build_parser", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
