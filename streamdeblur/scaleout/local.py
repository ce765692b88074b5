"""The ``local`` executor: the segments of one video, here, one after the other, resumable.

Finished segments of an earlier (interrupted) run with the same input, config and segment count
are reused; the others are processed with one set of built stages (one model instance), then
everything is joined and the audio copied once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .registry import Executor, register_executor

if TYPE_CHECKING:  # the engine (PyTorch, PyAV) loads when segments run, not when executors register
    from ..engine.build import Job
    from ..engine.config import PipelineConfig
    from .plan import SegmentPlan

#: runs one segment job: ``(job, label, stages) -> (exit code, result)``; 0 means done
RunSegment = Callable[["Job", str, "list | None"], tuple[int, object]]


@register_executor("local")
class LocalExecutor(Executor):
    help = "this machine; segments one after the other (default)"

    @staticmethod
    def run_segments(
        input: str | Path,
        output: str | Path,
        cfg: PipelineConfig,
        run_segment: RunSegment,
        segments: int | None = None,
        seconds: float | None = None,
        overwrite: bool = False,
        warn: Callable[[str], None] = print,
        report: Callable[[str], None] = print,
        on_joined: Callable[[Path], None] | None = None,
    ) -> tuple[int, object]:
        """One video in segments: resume finished ones, process the rest, join.

        Args:
            input: the source video (a local file).
            output: the final output file.
            cfg: the pipeline config.
            run_segment: runs one segment's job (the caller shows its progress).
            segments: number of segments to aim for; or ``seconds`` per segment.
            overwrite: replace an existing final output.
            warn: receives warnings.
            report: receives the plan line (the resume line after a failed segment goes to ``warn``).
            on_joined: hears of the joined output; a stop (Ctrl-C, SIGTERM) waits until the join and it
                are done (a batch notes the file done there: see :func:`~streamdeblur.errors.stops_held`).

        Returns:
            ``(0, output path)`` when joined, else the failing segment's ``(code, result)``.
        """
        from .plan import prepare

        plan = prepare(input, output, cfg, segments=segments, seconds=seconds, overwrite=overwrite, warn=warn)
        try:
            return LocalExecutor._run_plan(plan, cfg, run_segment, warn, report, on_joined)
        finally:
            plan.release()  # the work folder's lock (finish lets it go too; a failed segment here)

    @staticmethod
    def _run_plan(
        plan: SegmentPlan,
        cfg: PipelineConfig,
        run_segment: RunSegment,
        warn: Callable[[str], None],
        report: Callable[[str], None],
        on_joined: Callable[[Path], None] | None = None,
    ) -> tuple[int, object]:
        from ..engine.build import Job, build_stages
        from .plan import finish, joining, segment_config

        name = plan.input.name
        n = len(plan.specs)
        segs = f"{n} segment{'s' if n > 1 else ''}"
        report(f"{name}: {segs} (work folder {plan.work}); reusing {plan.reused} finished, processing {len(plan.todo)}")
        stages = build_stages(cfg, warn=warn) if plan.todo else None
        t0, todo = time.perf_counter(), list(plan.todo)  # (mark_done takes each off plan.todo)
        for i in todo:
            job = Job(
                str(plan.src(i)),
                str(plan.dst(i)),
                segment_config(cfg),
                overwrite=True,
                context=plan.job_context(i),
                encode_as=plan.encode_as,
            )
            code, result = run_segment(job, f"{name} segment {i + 1}/{n}", stages)
            if code != 0:
                # said even with --quiet (a warning): how to go on is part of the failure
                warn(f"{len(plan.done)} of {n} segments are finished in {plan.work}; run the same command again to resume")
                return code, result
            plan.mark_done(i)
        with joining(plan):
            joined = finish(plan, audio=cfg.output.audio, warn=warn, strict=cfg.strict)
            if on_joined is not None:
                on_joined(joined)
        # the whole run in one line, after each segment's own (there was no total)
        secs, done = time.perf_counter() - t0, sum(plan.specs[i].frames for i in todo)
        total = sum(s.frames for s in plan.specs)
        rate = f"{done / secs:.2f} fps" if secs > 0 and done else "nothing to process"
        reused = f", {total - done} of them reused" if done < total else ""
        report(f"{name}: {total} frames in {segs}{reused}; {done} processed in {secs:.1f} s ({rate}), joined")
        return 0, joined
