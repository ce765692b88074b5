"""``streamdeblur run``: one video file, stream or image folder, whole or in segments, here or on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_OK, ProcessingError
from .console import out
from .parser import add_pipeline_flags, add_scale_flags, config_from_args
from .progress import run_job
from .scale import run_on_ray, run_segmented

NAME = "run"
HELP = "deblur a video file, stream or image folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, …) or image folder")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate for image-sequence inputs")
    add_pipeline_flags(p, "motion")
    add_scale_flags(p)


def run(args) -> int:
    from ..engine.build import Job
    from ..scaleout import executor_class

    executor = executor_class(args.executor)
    if executor.whole_batch:
        executor.check()
        (oc,) = run_on_ray([(Path(args.input), Path(args.output))], config_from_args(args), args)
        if not oc.ok:
            raise ProcessingError(oc.error or "failed")
        out.print(f"wrote {oc.output} ({oc.segments} segments, {oc.reused} reused)")
        return EXIT_OK
    if args.segments or args.segment_seconds:
        code, _ = run_segmented(args.input, args.output, config_from_args(args), args)
        return code
    job = Job(args.input, args.output, config_from_args(args), overwrite=args.overwrite, fps=args.fps)
    code, _ = run_job(job, Path(str(args.input)).name or str(args.input))
    return code
