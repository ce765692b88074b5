"""The terminal side of the executors: a segmented run's progress per segment (``local``), one
progress bar for a whole cluster's work (``ray``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from ..errors import EXIT_SIGHUP, EXIT_SIGTERM, STOP_SIGNALS, Interrupted
from .console import out, say, warn
from .progress import Signals, progress_bar, run_job, speed


def run_segmented(inp: str, output: str, cfg, args, overwrite: bool | None = None, on_joined=None) -> tuple[int, object]:
    """One video in segments on this machine (the ``local`` executor), each with its progress bar.

    ``overwrite``: replace an existing output (default ``args.overwrite``; a batch redoing its own output: True);
    ``on_joined``: hears of the joined output before a stop that came during the join is acted on.
    """
    from ..scaleout.local import LocalExecutor

    def run_segment(job, label: str, stages) -> tuple[int, object]:
        return run_job(job, label, stages=stages, announce=False)

    code, result = LocalExecutor.run_segments(
        inp,
        output,
        cfg,
        run_segment,
        segments=args.segments,
        seconds=args.segment_seconds,
        overwrite=args.overwrite if overwrite is None else overwrite,
        warn=warn,
        report=say,  # the plan line: nothing with --quiet
        on_joined=on_joined,
    )
    if code == 0:
        out.print(f"wrote {result}")
    return code, result


def run_on_ray(pairs: list[tuple[Path, Path]], cfg, args, on_file=None, overwrite: bool | set[Path] | None = None) -> list:
    """Files (and their segments) over a Ray cluster, with one progress bar for all of them.

    Ctrl-C and SIGTERM stop it with the finished segments kept and a line on how to resume (exit 130
    or 143). Ray's start puts a handler of its own on SIGTERM (a C++ stack dump, exit 134): Ray is
    started first, this command's handler set after it. A Ray this command started is shut down here,
    with the signals ignored (a Ctrl-C during Ray's shutdown at exit printed a traceback and crashed
    the process, exit 139, after the output was complete). ``on_file`` hears of each file once joined;
    ``overwrite`` as for :func:`run_segmented`, or the set of outputs that may be replaced."""
    from ..scaleout.ray import RayExecutor, import_ray, start_ray

    ray = import_ray()
    started = not ray.is_initialized()
    start_ray(args.address, args.worker_nice)
    prog = progress_bar()
    start = time.monotonic()
    signals = Signals()
    try:
        with signals, prog:
            task = prog.add_task("ray", total=None, line="")  # frames of all files and segments

            def on_progress(done: int, total: int, files_done: int, files: int) -> None:
                fps = done / max(time.monotonic() - start, 1e-6)
                prog.update(
                    task, completed=done, total=total, line=f"{done}/{total} frames  {speed(fps)}  files {files_done}/{files}"
                )

            return RayExecutor.run(
                pairs,
                cfg,
                segments=args.segments,
                seconds=args.segment_seconds,
                address=args.address,
                workers=args.workers,
                retries=args.retries,
                worker_nice=args.worker_nice,
                overwrite=args.overwrite if overwrite is None else overwrite,
                warn=warn,
                on_progress=on_progress,
                on_file=on_file,
            )
    except KeyboardInterrupt:
        from ..scaleout.plan import work_dir

        what = {EXIT_SIGTERM: "terminated (SIGTERM)", EXIT_SIGHUP: "hung up (SIGHUP)"}.get(signals.code, "interrupted")
        folders = ", ".join(str(work_dir(out)) for _, out in pairs[:2]) + (" …" if len(pairs) > 2 else "")
        warn(f"{what}: the finished segments are kept ({folders}); run the same command again to resume")
        raise Interrupted(signals.code) from None
    finally:
        if started:
            old = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
            try:
                ray.shutdown()
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
