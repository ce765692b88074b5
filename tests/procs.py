"""Watching a child process's output from a test: wait for a line, never for a guessed time."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

CHILD = Path(__file__).parent / "cli_child.py"


class Lines:
    """Collects a stream's lines in a thread; :meth:`wait_for` blocks until one matches."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first new line matching ``pattern``; AssertionError when the stream ends or ``timeout`` passes."""
        rx = re.compile(pattern)
        while True:
            try:
                line = self._q.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {self.lines[-5:]}") from None
            if line is None:
                raise AssertionError(f"the stream ended before a line matching {pattern!r}; got {self.lines[-5:]}")
            self.lines.append(line)
            if rx.search(line):
                return line

    def rest(self) -> str:
        """Everything read so far and until the stream ends (call after the process exited)."""
        while (line := self._q.get()) is not None:
            self.lines.append(line)
        self._q.put(None)
        return "\n".join(self.lines)


def start_cli(args: list, child_options: list[str] = (), **kwargs) -> tuple[subprocess.Popen, Lines, Lines]:
    """``streamdeblur ARGS`` in a child process (through :mod:`cli_child`); returns it with its stdout and stderr lines."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), *child_options, "--", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def interrupt_after_first_write(args: list, signum: int, timeout: float = 300) -> tuple[int, str]:
    """Run ``streamdeblur ARGS``, send ``signum`` once its first frame is in the output; returns (exit status, stderr).

    The child starts with the signal's default disposition: under ``nohup`` (a CI runner's) SIGHUP
    would be inherited as ignored, and the child rightly keeps a signal its parent ignores.
    """
    proc, stdout, stderr = start_cli(args, ["--announce-writes"], preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    try:
        stdout.wait_for(r"^written 0$", timeout=timeout)
        proc.send_signal(signum)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stderr.rest()
