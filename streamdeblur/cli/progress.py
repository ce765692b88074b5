"""What a run says while it works, and running one job with it: a bar on a terminal, plain lines in
a log, nothing with ``--quiet``.

* **Terminal** (stderr is a TTY): a rich progress bar, redrawn in place.
* **No terminal** (``nohup``, a log file, a pipe): one plain line every ``interval`` seconds
  (default 5), so a log shows the run is alive, how fast it goes and when it ends.
* **Always** (unless quiet): one final line that counts what was really done — never the
  container's estimate — and says ``input ended early`` when the file held fewer frames than its
  index promised (a truncated download, a camera card pulled out).

The running line: ``done/total frames  fps  ETA  [extras]  [busy: shares]``; extras appear when they
are not zero: dropped frames (live), skipped packets, damaged places, repaired timestamps, reconnects, latency (live).
The bracket at the end, ``[busy: decode 2% deblur 98% encode 1%]``, is the share of the wall-clock
time each part of the pipeline was working. The parts run at the same time (decode, model and encode
overlap), so the shares can add up to more than 100%; the largest one is the part that limits the speed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from ..errors import EXIT_INPUT, EXIT_OK, EXIT_SIGINT, STOP_SIGNALS, SinkError, exit_code, signal_exit_code, stops_held
from ..io.paths import without_password
from .console import display, err, error, out, say, warn

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 5.0


class Signals:
    """SIGINT/SIGTERM/SIGHUP → KeyboardInterrupt in the main thread, remembering which one came."""

    def __init__(self) -> None:
        self.code = EXIT_SIGINT

    def __enter__(self):
        def handler(signum, frame):
            self.code = signal_exit_code(signum)
            raise KeyboardInterrupt

        self._old = {s: signal.signal(s, handler) for s in STOP_SIGNALS if signal.getsignal(s) != signal.SIG_IGN}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


def clock(s: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour); ``--:--`` when unknown."""
    if s is None:
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def speed(fps: float) -> str:
    """``3.02 fps``; below 0.1 fps the seconds per frame too (``0.01 fps, 145 s/frame``): a 4K frame
    through a model on a CPU read "0.00 fps" for minutes.

    Example:
        >>> speed(3.017), speed(0.0069)
        ('3.02 fps', '0.01 fps, 145 s/frame')
    """
    return f"{fps:.2f} fps" + (f", {1 / fps:.0f} s/frame" if 0 < fps < 0.1 else "")


def busy(p) -> str:
    """``[busy: decode 2% deblur 98% encode 1%]`` (see the module docstring), or '' before any work."""
    shares = " ".join(f"{k} {v * 100:.0f}%" for k, v in p.shares().items() if v >= 0.005)
    return f"  [busy: {shares}]" if shares else ""


#: The counters a line reports when they are not zero: (Progress field, running words, final words).
COUNTERS = (
    ("dropped", "dropped {}", "dropped {}"),
    ("skipped", "skipped-packets {}", "skipped {} corrupt packets"),
    ("damaged", "damaged {}", "damaged data at {} point(s) of the input (frames there missing or with errors)"),
    ("skipped_images", "skipped-images {}", "skipped {} unreadable images"),
    ("repaired", "repaired-pts {}", "repaired {} timestamps"),
    ("reconnects", "reconnects {}", "{} reconnection attempts"),
)


def counters(p, final: bool) -> list[str]:
    """The non-zero counters of ``p`` in the running (``final=False``) or the final line's words.

    Args:
        p: a :class:`~streamdeblur.engine.pipeline.Progress` snapshot.
        final: the last line's words instead of the running line's.

    Returns:
        One phrase per counter, e.g. ``["skipped-packets 3"]``; a live running line always shows ``dropped``.
    """
    return [
        (final_words if final else running).format(getattr(p, name))
        for name, running, final_words in COUNTERS
        if getattr(p, name) or (name == "dropped" and p.live and not final)
    ]


def progress_line(p) -> str:
    """The running line for a :class:`~streamdeblur.engine.pipeline.Progress` snapshot: frames, speed,
    time left (elapsed for live sources), drops, skips, repairs, reconnects, latency."""
    total = f"/{p.total}" if p.total and not p.live else ""
    when = f"live {clock(p.elapsed)}" if p.live else f"ETA {clock(p.eta)}"
    extra = "".join(f"  {c}" for c in counters(p, final=False))
    recent = getattr(p, "recent", None)
    if p.live and recent is not None and recent.p50 is not None:  # the last few seconds
        rate = f"{recent.fps:.1f}" if recent.fps is not None else "--"
        extra += f"  delivering {rate} fps  latency {recent.p50 * 1000:.0f}/{recent.p95 * 1000:.0f} ms (median/p95)"
    elif p.live and p.latency is not None:
        extra += f"  latency {p.latency * 1000:.0f} ms"
    return f"{p.done}{total} frames  {speed(p.fps)}  {when}{extra}{busy(p)}"


def _kept(output) -> bool:
    """Whether a failed run left something at ``output``: a file, or a folder with images in it."""
    if not output:
        return False
    path = Path(output)
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def final_line(p, stopped: bool = False) -> str:
    """The last line: what was done, how long it took; ``input ended early`` when it did (not when
    the run was ``stopped`` before the end: Ctrl-C, an error, ``--strict``)."""
    line = f"{p.done} frames in {clock(p.elapsed)} ({speed(p.fps)}"
    there = p.elapsed - p.offline
    if p.live and p.offline >= 1.0 and there > 0:  # the average over a session the camera was half gone from
        line += f"; {p.done / there:.2f} fps in the {clock(there)} the camera was there"
    line += ")" + "".join(f", {c}" for c in counters(p, final=True))
    run = getattr(p, "run_latency", None)
    if p.live and run is not None and run.p50 is not None:
        line += f", latency {run.p50 * 1000:.0f} ms median, {run.p95 * 1000:.0f} ms p95"
    note = None if stopped else p.early_note
    if note:
        line += f"; {note}"
    return line + busy(p)


def progress_bar() -> Bar:
    """A rich progress bar on stderr (off when stderr is not a terminal or with ``--quiet``)."""
    return Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal or display.quiet,
    )


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

    def update(self, p) -> None:
        """Show a snapshot (called a few times per second from the pipeline's monitor thread)."""
        if self._bar is not None:
            total = p.total if p.total and not p.live else None
            self._bar.update(self._task, completed=p.done, total=total, line=escape(progress_line(p)))
        elif not self.quiet and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            self.say(progress_line(p))

    def say(self, text: str) -> None:
        """One plain line ``label: text`` (nothing when quiet)."""
        if not self.quiet:
            self.console.print(escape(f"{self.label}: {text}"))


LONG_RUN_S = 1800.0  #: a single run with this much left (s) is told how to make it resumable …
LONG_RUN_AFTER_S = 60.0  #: … once it has run this long (the rate then leaves out the start-up)


def long_run_hint(label: str, eta: float) -> str:
    """What a long single run is told once: a kill loses it, segments make it resumable."""
    return (
        f"{label}: about {clock(eta)} left; a crash or kill before the end loses this run (an unfinished MP4 "
        "does not play): --segments N (or --segment-seconds S) makes it resumable"
    )


def run_job(
    job,
    label: str,
    duration: float | None = None,
    stages: list | None = None,
    announce: bool = True,
    on_done: Callable[[object], None] | None = None,
) -> tuple[int, object]:
    """Run one job, showing its progress; returns (exit code, RunResult or None).

    Args:
        job: what to run.
        label: what the progress lines are about (file name, ``camera 0`` …).
        duration: live sources: stop after this many seconds.
        stages: built stages to reuse (segments of one run share one model).
        announce: print ``wrote PATH`` at the end (segments do not).
        on_done: hears of a finished run's result before a stop that came after the pipeline's own
            handling is acted on.

    Returns:
        The exit code (:func:`streamdeblur.errors.exit_code` for failures) and the run's result.
    """
    from ..engine.build import build

    label = without_password(label)  # a camera's rtsp://user:password@… stays off the terminal
    with Signals() as sig:  # while building; the pipeline handles signals itself while it runs
        try:
            pipe = build(job, warn=warn, stages=stages, say=say)
        except KeyboardInterrupt:  # opening the input or a camera, loading the model: said, not silent
            err.print(escape(f"interrupted before the first frame ({label}); nothing written"))
            return sig.code, None
    # a stop that comes after the pipeline's own handling (which ends once the output has its name) is
    # acted on when on_done has heard of the output: a batch notes it done there (see stops_held)
    with stops_held():
        code, result = _run_built(pipe, job, label, duration, announce)
        if code == EXIT_OK and on_done is not None:
            on_done(result)
    return code, result


def _run_built(pipe, job, label: str, duration: float | None, announce: bool) -> tuple[int, object]:
    """:func:`run_job` once its pipeline is built."""
    from ..engine.build import is_video_output

    start = time.monotonic()
    # a single run into a video file: told once, when it will clearly run long, that it is not resumable
    hint = announce and not pipe.live and job.context is None and is_video_output(job.output)
    with Reporter(err, label, quiet=display.quiet, interval=display.interval) as rep:

        def on_progress(p) -> None:
            nonlocal hint
            rep.update(p)
            if hint and p.elapsed >= LONG_RUN_AFTER_S and (p.eta or 0) >= LONG_RUN_S:
                hint = False
                warn(long_run_hint(label, p.eta))
            if duration is not None and time.monotonic() - start > duration:
                pipe.request_stop()

        result = pipe.run(on_progress)
    p = result.progress
    if result.error:
        named = result.output is not None and str(result.output) in result.error  # "… kept as X" said it
        where = f" (partial output kept: {result.output})" if _kept(result.output) and not named else ""
        # stopped by the error, not by the input's end; an output whose name was taken was finished
        finished = isinstance(result.exception, SinkError) and result.exception.finished
        rep.say(f"{'processed' if finished else 'stopped after'} {final_line(p, stopped=True)}")
        if display.debug and pipe.trace:  # the traceback of the thread that failed (a stage, the reader, the writer)
            err.print(pipe.trace.rstrip(), markup=False, highlight=False)
        error(result.error + where)
        return exit_code(result.exception, during_run=True), result
    if result.interrupted:
        code = signal_exit_code(pipe.signal_received) if pipe.signal_received is not None else EXIT_SIGINT
        kept = result.output is not None and Path(result.output).exists()
        what = f"playable partial output: {result.output}" if kept else "no partial output kept"
        if kept and Path(result.output).is_dir():  # a folder of images: each one finished, nothing to play
            what = f"the images finished so far are in {result.output}"
        if kept and pipe.live and Path(result.output).name == Path(job.output or "").name:
            what = f"recording complete: {result.output}"  # a live source's normal end
        err.print(escape(f"interrupted after {final_line(p, stopped=True)}; {what}"))
        return code, result
    if p.done == 0 and job.output not in (None, "-") and job.context is None:
        # a finished run that wrote nothing (the sink removed its empty file): not a success
        why = (
            f"the input has no video frames from --start {job.cut.start:g} s on"
            if job.cut and job.cut.start
            else "the input gave no video frames"
        )
        rep.say(final_line(p))
        error(f"{why}; nothing written")
        return EXIT_INPUT, result
    rep.say(final_line(p))
    if p.lost:  # the camera went away for good: the recording so far is complete, the session is not
        kept = f"; the recording so far is kept: {result.output}" if result.output is not None else ""
        if p.lost_why:
            error(f"{p.lost_why}{kept}")
        elif p.lost_at_end:  # "no reconnection worked" was said of sessions in which six had worked
            error(f"the camera was still lost when the session ended{kept}")
        else:
            error(f"the camera was lost before the end and no reconnection worked{kept}")
        return EXIT_INPUT, result
    if result.output is not None and announce:  # a result, on stdout even with --quiet (a script reads it there)
        out.print(escape(f"wrote {result.output}"))
    elif job.output == "-" and announce:  # '-o -' read as "to stdout" ran to the end and left nothing, silently
        rep.say("processed, nothing written: no output file asked for (-o - or /dev/null); video is never written to stdout")
    return EXIT_OK, result
