"""Running one job with a live progress display, and the line that sums a run up.

The line: ``done/total frames  fps  ETA  [extras]  [busy shares]``; extras appear when they are
not zero: dropped frames (live), skipped packets, repaired timestamps, reconnects, latency (live).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, exit_code
from .console import err, error, out, warn


class Signals:
    """SIGINT/SIGTERM → KeyboardInterrupt in the main thread, remembering which one came."""

    def __init__(self) -> None:
        self.code = EXIT_SIGINT

    def __enter__(self):
        def handler(signum, frame):
            self.code = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
            raise KeyboardInterrupt

        self._old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


def fmt_time(s: float | None) -> str:
    """``MM:SS`` (``H:MM:SS`` from an hour), ``--:--`` when unknown."""
    if s is None:
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def progress_line(p) -> str:
    """One line for a :class:`~streamdeblur.engine.pipeline.Progress` snapshot."""
    shares = " ".join(f"{k} {v * 100:.0f}%" for k, v in p.shares().items() if v >= 0.005)
    total = f"/{p.total}" if p.total else ""
    extra = f" dropped {p.dropped}" if p.live else ""
    if p.skipped:
        extra += f" skipped-packets {p.skipped}"
    if p.repaired:
        extra += f" repaired-pts {p.repaired}"
    if p.reconnects:
        extra += f" reconnects {p.reconnects}"
    if p.live and p.latency is not None:
        extra += f" latency {p.latency * 1000:.0f} ms"
    return f"{p.done}{total} frames  {p.fps:.2f} fps  ETA {fmt_time(p.eta)}{extra}  [{shares}]"


def progress_bar() -> Progress:
    """The rich progress bar (on stderr; off when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


def run_job(
    job, label: str, duration: float | None = None, stages: list | None = None, quiet: bool = False
) -> tuple[int, object]:
    """Run one job with a rich progress display; returns (exit code, RunResult or None).

    ``stages``: built stages to reuse (segments of one run share one model); ``quiet``: no "wrote" line.
    """
    from ..engine.build import build

    with Signals() as sig:  # while building; the pipeline handles signals itself while it runs
        try:
            pipe = build(job, warn=warn, stages=stages)
        except KeyboardInterrupt:
            return sig.code, None
    prog = progress_bar()
    start = time.monotonic()

    def on_progress(p) -> None:
        prog.update(task, completed=p.done, total=p.total, line=escape(progress_line(p)))
        if duration is not None and time.monotonic() - start > duration:
            pipe.request_stop()

    with prog:
        task = prog.add_task(label, total=pipe.progress().total, line="")
        result = pipe.run(on_progress)
    p = result.progress
    err.print(escape(f"{label}: {progress_line(p)}"))
    if result.error:
        where = f" (partial output kept: {result.output})" if result.output and Path(result.output).exists() else ""
        error(result.error + where)
        return exit_code(result.exception, during_run=True), result
    if result.interrupted:
        code = EXIT_SIGTERM if pipe.signal_received == signal.SIGTERM else EXIT_SIGINT
        err.print(f"interrupted after {p.done} frames; playable partial output: {result.output}")
        return code, result
    if result.output is not None and not quiet:
        out.print(f"wrote {result.output}")
    return EXIT_OK, result
