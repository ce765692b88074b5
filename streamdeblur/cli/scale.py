"""The terminal side of the executors: a segmented run's progress per segment (``local``), one
progress bar for a whole cluster's work (``ray``)."""

from __future__ import annotations

import time
from pathlib import Path

from .console import out, say, warn
from .progress import progress_bar, run_job


def run_segmented(inp: str, output: str, cfg, args) -> tuple[int, object]:
    """One video in segments on this machine (the ``local`` executor), each with its progress bar."""
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
        overwrite=args.overwrite,
        warn=warn,
        report=say,  # the plan line: nothing with --quiet
    )
    if code == 0:
        out.print(f"wrote {result}")
    return code, result


def run_on_ray(pairs: list[tuple[Path, Path]], cfg, args) -> list:
    """Files (and their segments) over a Ray cluster, with one progress bar for all of them."""
    from ..scaleout.ray import RayExecutor

    prog = progress_bar()
    start = time.monotonic()
    with prog:
        task = prog.add_task("ray", total=None, line="")  # frames of all files and segments

        def on_progress(done: int, total: int, files_done: int, files: int) -> None:
            fps = done / max(time.monotonic() - start, 1e-6)
            prog.update(
                task, completed=done, total=total, line=f"{done}/{total} frames  {fps:.2f} fps  files {files_done}/{files}"
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
            overwrite=args.overwrite,
            warn=warn,
            on_progress=on_progress,
        )
