"""What a run says while it works: a bar on a terminal, plain lines in a log, nothing with ``--quiet``.

* **Terminal** (stderr is a TTY): a rich progress bar, redrawn in place.
* **No terminal** (``nohup``, a log file, a pipe): one plain line every ``interval`` seconds
  (default 5), so a log shows the run is alive, how fast it goes and when it ends.
* **Always** (unless quiet): one final line that counts what was really done — never the
  container's estimate — and says ``input ended early`` when the file held fewer frames than its
  index promised (a truncated download, a camera card pulled out).

The bracket at the end of a line, ``[busy: decode 2% deblur 98% encode 1%]``, is the share of the
wall-clock time each part of the pipeline was working. The parts run at the same time (decode,
model and encode overlap), so the shares can add up to more than 100%; the largest one is the
part that limits the speed.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from ..engine.pipeline import Progress

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 5.0


def clock(s: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour); ``--:--`` when unknown."""
    if s is None:
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def busy(p: Progress) -> str:
    """``[busy: decode 2% deblur 98% encode 1%]`` (see the module docstring), or '' before any work."""
    shares = " ".join(f"{k} {v * 100:.0f}%" for k, v in p.shares().items() if v >= 0.005)
    return f"  [busy: {shares}]" if shares else ""


def status_line(p: Progress) -> str:
    """The running line: frames, speed, time left (elapsed for live sources), drops and skips."""
    total = f"/{p.total}" if p.total and not p.live else ""
    when = f"live {clock(p.elapsed)}" if p.live else f"ETA {clock(p.eta)}"
    extra = f"  dropped {p.dropped}" if p.live or p.dropped else ""
    if p.skipped:
        extra += f"  skipped-packets {p.skipped}"
    if p.live and p.latency is not None:
        extra += f"  latency {p.latency * 1000:.0f} ms"
    return f"{p.done}{total} frames  {p.fps:.2f} fps  {when}{extra}{busy(p)}"


def final_line(p: Progress) -> str:
    """The last line: what was done, how long it took; ``input ended early`` when it did."""
    line = f"{p.done} frames in {clock(p.elapsed)} ({p.fps:.2f} fps)"
    if p.dropped:
        line += f", dropped {p.dropped}"
    if p.skipped:
        line += f", skipped {p.skipped} corrupt packets"
    if p.ended_early:
        line += f"; input ended early ({p.done} of the {p.total} frames its index lists)"
    return line + busy(p)


class Reporter:
    """Progress of one run on ``console`` (stderr): a bar, plain lines or nothing.

    Args:
        console: where to write (the CLI's stderr console).
        label: what runs (file name, ``camera 0`` …), at the start of each line.
        quiet: print nothing.
        interval: seconds between plain lines (None: :data:`PLAIN_INTERVAL`).
    """

    def __init__(self, console: Console, label: str, quiet: bool = False, interval: float | None = None) -> None:
        self.console, self.label, self.quiet = console, label, quiet
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self.terminal = console.is_terminal and not quiet
        self._bar: Bar | None = None
        self._task = None
        self._last = time.monotonic()

    def __enter__(self) -> Reporter:
        if self.terminal:
            self._bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(escape(self.label), total=None, line="")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, p: Progress) -> None:
        """Show a snapshot (called a few times per second from the pipeline's monitor thread)."""
        if self._bar is not None:
            total = p.total if p.total and not p.live else None
            self._bar.update(self._task, completed=p.done, total=total, line=escape(status_line(p)))
        elif not self.quiet and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self.say(status_line(p))

    def say(self, text: str) -> None:
        """One plain line ``label: text`` (nothing when quiet)."""
        if not self.quiet:
            self.console.print(escape(f"{self.label}: {text}"))
