"""The terminal: the two consoles (results on stdout, progress and errors on stderr), warnings and
error lines. Only the ``cli`` package writes to the terminal."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from ..io.paths import without_password

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def warn(msg: str) -> None:
    """One warning line on stderr (a camera URL's password hidden, as in every line here)."""
    err.print(f"[yellow]warning:[/yellow] {escape(without_password(msg))}")


def error(msg: str, where: str = "streamdeblur") -> None:
    """One error line on stderr: ``WHERE: error: MSG``."""
    err.print(f"[red]{escape(where)}: error:[/red] {escape(without_password(msg))}")


@dataclass
class Display:
    """How much the CLI prints (set once per command from ``--quiet`` and ``--progress-interval``)."""

    quiet: bool = False
    interval: float | None = None
    debug: bool = False  #: ``--debug``: errors during a run show the stage's traceback too


display = Display()


def say(msg: str) -> None:
    """One informational line on stderr (nothing with ``--quiet``)."""
    if not display.quiet:
        err.print(escape(without_password(msg)))
