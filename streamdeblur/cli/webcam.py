"""``streamdeblur webcam``: live correction from a camera or stream, with a preview and/or a recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..io.formats import IMAGE_EXTS
from .parser import add_pipeline_flags, check_flags, config_from_args
from .progress import run_job

NAME = "webcam"
HELP = "live correction from a camera or stream, with preview"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera", default="0", help="camera index, /dev/videoN or a stream URL (default 0)")
    p.add_argument(
        "--preview",
        action="store_true",
        default=None,
        help="show a preview window (off by default; needs a display — without one, -o still records)",
    )
    p.add_argument("--no-preview", dest="preview", action="store_false", help="no preview window (the default)")
    p.add_argument(
        "--no-overlay",
        dest="overlay",
        action="store_false",
        default=None,
        help="start the preview without its statistics overlay (fps, latency, drops; the o key toggles it)",
    )
    p.add_argument("-o", "--output", help="also record to this video file")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--reconnect", type=int, default=5, help="reopen attempts after a disconnect (default 5)")
    add_pipeline_flags(p, "webcam")


def run(args) -> int:
    from ..engine.build import Job

    check_flags(args, ("duration", "reconnect"))  # --duration 0 recorded 8 frames; --reconnect -3 was taken
    if not str(args.camera).strip():  # said "camera not found: " with nothing after it, exit 3
        raise UsageError("--camera is empty: give a device number (0), a stream URL or a device path")
    if args.output is not None and not args.output.strip():  # an unset shell variable: a whole session recorded nothing
        raise UsageError("-o is empty: give the recording's file, e.g. -o RECORDING.mp4")
    cfg = config_from_args(args)
    if args.output == "-":  # a live recording is a file: '-' recorded nothing and exited 0
        raise UsageError("-o - records nothing: a recording is a file, e.g. -o RECORDING.mp4 (or --preview to only watch)")
    if args.output is None and not cfg.preview:
        raise UsageError("nothing to show or record: add --preview or -o RECORDING.mp4")
    if args.output is not None and not Path(args.output).suffix and not Path(args.output).is_dir():
        # a name without an extension is an image folder for `run`; a camera's recording is a video
        raise UsageError(f"-o {args.output}: give the recording a video extension (.mp4, .mkv, .mov, .webm)")
    if args.output is not None and Path(args.output).suffix.lower() in IMAGE_EXTS:  # blamed the camera: "input not found"
        raise UsageError(
            f"-o {args.output} is one image: a recording is a video, e.g. -o {Path(args.output).with_suffix('.mp4')}"
        )
    # no -o: a preview only (it ended "no output file asked for (-o - or /dev/null)", neither of which was given)
    job = Job(args.camera, args.output, cfg, overwrite=args.overwrite, camera=True, reconnect=args.reconnect)
    code, _ = run_job(job, f"camera {args.camera}", duration=args.duration)
    return code
