"""The terminal: the two consoles (results on stdout, progress and errors on stderr), warnings and
error lines. Only the ``cli`` package writes to the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def warn(msg: str) -> None:
    """One warning line on stderr."""
    err.print(f"[yellow]warning:[/yellow] {escape(msg)}")


def error(msg: str, where: str = "streamdeblur") -> None:
    """One error line on stderr: ``WHERE: error: MSG``."""
    err.print(f"[red]{escape(where)}: error:[/red] {escape(msg)}")
