"""One error hierarchy: every error a user can cause carries its exit code and a one-line message.

The command maps an exception to an exit code with :func:`exit_code`, the only such table:

====  ==========================================  =========================================
code  meaning                                     raised as
====  ==========================================  =========================================
0     done
1     processing failed                           :class:`ProcessingError`, anything unknown
2     bad usage or configuration                  :class:`UsageError`, :class:`ConfigError`,
                                                  :class:`ExecutorError`
3     unreadable input                            :class:`SourceError`
4     output cannot be written                    :class:`SinkError`
5     unusable weights                            :class:`WeightsError`
129   hung up (SIGHUP: the terminal closed, an SSH session dropped)
130   interrupted (Ctrl-C)
143   terminated (SIGTERM)
====  ==========================================  =========================================

This module imports nothing from the package: every layer may raise these.

Example:
    >>> exit_code(SourceError("cannot open clip.mp4: No such file or directory"))
    3
    >>> one_line(ValueError("first line\\nsecond line"))
    'first line'
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_WEIGHTS = 0, 1, 2, 3, 4, 5
EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM = 129, 130, 143

#: the signals that stop a run as Ctrl-C does (the work in flight finished and kept), by number. SIGHUP
#: came with a closed terminal or a dropped SSH session and killed a live recording on the spot: its
#: fragmented file held no frame yet (x264 still had them), so nothing at all was kept
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def signal_exit_code(signum: int) -> int:
    """The exit status of a command a signal stopped: 128 + its number (129 SIGHUP, 130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


@contextlib.contextmanager
def stops_held(note: str = "") -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP for a few steps that must happen together, then act on them.

    Publishing an output and noting it done in a batch's ledger are two steps: a stop between them
    left a finished output that the ledger called unfinished, and the next run refused it as "not made
    by this batch" (seen when SIGTERM came as the file appeared). A stop that comes inside the block is
    delivered to the handler that was there when the block ends; ``note`` (if any) is written to stderr
    when the first one comes (what it waits for). Outside the main thread (where handlers cannot be set)
    it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def held(signum, frame) -> None:
        if note and not came:
            sys.stderr.write(f"{note}\n")
        came.append(signum)

    # an ignored signal stays ignored (a background job started by a shell without job control; the
    # pipeline's own handling, set inside the block, leaves it alone for the same reason)
    old = {s: signal.signal(s, held) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for s in dict.fromkeys(came):
            signal.raise_signal(s)


class StreamdeblurError(Exception):
    """Base of the errors a user can cause; ``str()`` is one line for them, ``exit_code`` the command's."""

    exit_code: int = EXIT_FAIL


class ProcessingError(StreamdeblurError):
    """Processing failed (a run, a segment, a file of a batch)."""


class UsageError(StreamdeblurError, ValueError):
    """Bad usage: a wrong option or combination of options."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """Invalid pipeline configuration; the message is one line with file and line."""


class ExecutorError(UsageError):
    """The executor cannot run (unknown, Ray missing or unreachable)."""


class SourceError(StreamdeblurError):
    """A source cannot be opened or read."""

    exit_code = EXIT_INPUT


class SinkError(StreamdeblurError):
    """The output cannot be written.

    Attributes:
        kept: the finished output kept under another name (its own name was taken meanwhile), or None.
        finished: every frame was processed and written; naming the output failed (True where ``kept``).
    """

    exit_code = EXIT_OUTPUT

    def __init__(self, message: str = "", kept: object = None, finished: bool = False) -> None:
        super().__init__(message)
        self.kept = kept
        self.finished = finished or kept is not None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that stopped a command which has already said what it kept and how to go on;
    ``exit_code`` is 130 or 143."""

    def __init__(self, exit_code: int = EXIT_SIGINT) -> None:
        super().__init__()
        self.exit_code = exit_code


class OutputExistsError(SinkError):
    """The output file exists and replacing it was not asked for (``--overwrite`` / ``overwrite=True``).

    Args:
        path: the existing output.
        hint: how the caller asks for a replacement (the CLI's flag, the API's keyword).
    """

    def __init__(self, path, hint: str = "--overwrite") -> None:
        super().__init__(f"output {path} exists; pass {hint} to replace it")
        self.path = path


class WeightsError(StreamdeblurError):
    """A checkpoint could not be used."""

    exit_code = EXIT_WEIGHTS


class UnknownNameError(StreamdeblurError, KeyError):
    """A name no registry entry has; the message lists the known ones (a ``KeyError`` that reads as a
    sentence, and a :class:`StreamdeblurError`: a typo in a model name escaped ``except
    StreamdeblurError``; bad usage when raised while a command sets up, see :func:`exit_code`)."""

    exit_code = EXIT_USAGE

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def one_line(exc: BaseException | str, limit: int | None = None, past_header: bool = False) -> str:
    """The first line of an exception's message (its class name when the message is empty).

    Args:
        exc: an exception, or a text.
        limit: cut the line to this many characters.
        past_header: a first line that only introduces the next (ends with ``:``, as PyTorch's
            "Error(s) in loading state_dict for HarmGate:") gives way to that next line.

    Returns:
        One line for the user (a ``KeyError``'s message without the quotes ``str()`` adds).
    """
    if isinstance(exc, str):
        text, name = exc, "error"
    else:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text, name = str(text), type(exc).__name__
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = (lines[1] if past_header and len(lines) > 1 and lines[0].endswith(":") else lines[0]) if lines else name
    return line[:limit] if limit else line


def exit_code(exc: BaseException, during_run: bool = False) -> int:
    """The exit code for an exception: the one place that decides it.

    Args:
        exc: what was raised.
        during_run: raised while frames were being processed. A plain ``ValueError``/``KeyError``
            raised while a command sets up (an option a stage or the device rejects, an unknown
            model or stage name) is bad usage (2); the same raised while processing is a failure (1).

    Returns:
        The exit code (see the module's table).
    """
    if isinstance(exc, UnknownNameError) and during_run:
        return EXIT_FAIL
    if isinstance(exc, StreamdeblurError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_SIGINT
    if not during_run and isinstance(exc, (ValueError, KeyError)):
        return EXIT_USAGE
    return EXIT_FAIL
