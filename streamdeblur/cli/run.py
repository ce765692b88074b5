"""``streamdeblur run``: one video file, stream or image folder, whole or in segments, here or on Ray."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import EXIT_OK, ProcessingError, UsageError
from .console import out, warn
from .parser import add_cut_flags, add_pipeline_flags, add_scale_flags, check_flags, config_from_args, cut_from_args
from .progress import run_job
from .scale import run_on_ray, run_segmented

NAME = "run"
HELP = "deblur a video file, stream or image folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, stream URL, image folder or glob")
    p.add_argument(
        "-o",
        "--output",
        help=(
            "output video (.mp4, .mkv, .webm …), image folder (out/) or, for one photo, an image file"
            " (default: NAME_deblurred.EXT next to the input; - or /dev/null: none)"
        ),
    )
    p.add_argument("--fps", type=float, default=25.0, help="frame rate for image-sequence inputs (default 25)")
    add_pipeline_flags(p, "motion")
    add_cut_flags(p)
    add_scale_flags(p)


def default_output(inp: str) -> str:
    """The output name when ``-o`` is left out.

    Args:
        inp: the input as given.

    Returns:
        ``clip.mp4`` → ``clip_deblurred.mp4`` next to it; an image folder ``shots/`` → ``shots_deblurred/``;
        a file without a suffix (a dash cam's ``REC0042``, a download) → ``REC0042_deblurred.mp4``: a name
        without a suffix is an image folder to the writer, which turned a video into a PNG per frame; a
        container that is read but not written (a camcorder's ``.mts``, a phone's ``.3gp``, a ``.gif``)
        → ``.mp4``, as ``info`` says and ``batch`` does (the run ended "unknown output container '.mts'").

    Example:
        >>> default_output("clips/a.mkv"), default_output("clips/REC0042"), default_output("cam/00012.MTS")
        ('clips/a_deblurred.mkv', 'clips/REC0042_deblurred.mp4', 'cam/00012_deblurred.mp4')
    """
    from ..io.formats import FORMAT_BY_SUFFIX, IMAGE_EXTS
    from ..io.paths import is_glob
    from ..io.sources.base import _is_url

    if _is_url(inp) or is_glob(inp):
        raise UsageError("give the output with -o (no default name for a stream or a glob)")
    p = Path(inp)
    if p.is_dir():
        return str(p.with_name(f"{p.name}_deblurred")) + "/"
    written = p.suffix.lower() in FORMAT_BY_SUFFIX or p.suffix.lower() in IMAGE_EXTS
    return str(p.with_name(f"{p.stem}_deblurred{p.suffix if written else '.mp4'}"))


def run(args) -> int:
    from ..engine.build import Job
    from ..scaleout import executor_class

    if args.output is not None and not args.output.strip():  # an unset shell variable
        raise UsageError("-o is empty: give the output file or folder (or leave -o out for NAME_deblurred.EXT)")
    if args.output is None:
        args.output = default_output(args.input)
    elif args.output == os.devnull:  # ffmpeg's habit for a dry run: process, keep nothing (as -o -)
        args.output = "-"
    cut = cut_from_args(args)
    check_flags(args, ("fps",))  # --fps 0 ended "error: Fraction(1, 0)", -5 blamed the output, 1e9 wrote a 0-s video
    executor = executor_class(args.executor)
    if args.segments or args.segment_seconds or executor.whole_batch:
        from ..engine.build import is_video_output
        from ..io.sources import reads_as_images

        if reads_as_images(str(args.input)) or not is_video_output(args.output):
            # cut at keyframes and joined by stream copy: it ran every segment, then failed at the join
            raise UsageError(f"segments and Ray cut a video file into a video file; {args.output} from {args.input} is not that")
    if executor.whole_batch:
        executor.check()
        (oc,) = run_on_ray([(Path(args.input), Path(args.output))], config_from_args(args), args)
        if not oc.ok:
            raise ProcessingError(oc.error or "failed")
        out.print(f"wrote {oc.output} ({oc.segments} segment{'s' if oc.segments > 1 else ''}, {oc.reused} reused)")
        return EXIT_OK
    if args.segments or args.segment_seconds:
        code, _ = run_segmented(args.input, args.output, config_from_args(args), args)
        return code
    job = Job(args.input, args.output, config_from_args(args), overwrite=args.overwrite, fps=args.fps, cut=cut)
    code, result = run_job(job, Path(str(args.input)).name or str(args.input))
    if code == EXIT_OK and result is not None and result.output is not None and Path(result.output).is_file():
        _other_partials(Path(result.output))
    return code


def _other_partials(output: Path) -> None:
    """Say the partial files of ``output`` an earlier, interrupted or failed run left beside it: never
    removed by a run (they may be someone's only copy, or another run's work in progress), easy to forget."""
    from ..io.sinks.base import partials_of

    left = partials_of(output)
    if left:
        names = ", ".join(p.name for p in left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        warn(f"partial output of an earlier or running run still beside {output.name}, not removed: {names}")
