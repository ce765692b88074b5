"""``streamdeblur bench``: runs a registered benchmark (``--what``) and prints its tables."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from ..errors import EXIT_FAIL, EXIT_OK, UsageError
from .console import error, out, say
from .parser import check_flags

NAME = "bench"
HELP = "throughput benchmark: model-only vs end-to-end vs a naive loop"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..bench import list_benches

    p.add_argument("--model", default="deeprftv2-t", help="model to measure (default deeprftv2-t)")
    p.add_argument("--size", help="frame size WxH of the synthetic clip (default 640x360; memory's sizes are fixed)")
    p.add_argument("--frames", type=int, help="frames of the synthetic clip (default 24; temporal: 6; memory's are fixed)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch", type=int, default=0, help="frames per model call (0: auto, as in the pipeline)")
    p.add_argument("--tile", type=int, default=0, help="tile size in pixels (0: whole frames)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: auto, as in the pipeline")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the model (0: leave as is)")
    p.add_argument("--crop", type=int, default=96, help="train-memory: crop size of the training batch")
    p.add_argument("--rounds", type=int, default=3, help="ladder: timed runs per contender (order shuffled each round)")
    names = ["all", *list_benches()]
    p.add_argument("--what", default="all", choices=names, metavar="WHAT", help=" | ".join(names))
    p.add_argument(
        "--clips", help="live: a folder of <name>.blurry.mp4 + <name>.sharp.mkv clips (the dev set) to serve as the camera"
    )
    p.add_argument("--pipeline", help="live: the pipeline to measure (default webcam)")
    p.add_argument("--subset", help="bf16: an evaluation set (.pt) to use instead of the motion eval subset")


def check_args(args) -> None:
    """One-line usage errors (exit 2) before any benchmark runs, with the same table as ``run``
    (``engine/limits.py``): they gave raw Python errors, or ran silently with a 7-px tile."""
    fixed = {  # what these measure whatever --size/--frames say (they were ignored, silently)
        "memory": "fixed sizes (640x360 for 10 s and 60 s, one 3840x2160 frame)",
        "bf16": "the eval subsets' crops",
        "scan": "fixed sequence lengths",
    }
    if args.what in fixed and (args.size is not None or args.frames is not None):
        raise UsageError(f"--what {args.what} measures {fixed[args.what]}: drop --size/--frames")
    parts = str(args.size or "640x360").lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"--size must be WxH in pixels, e.g. 640x360, got {args.size!r}")
    args.size = args.size or "640x360"
    for key in ("frames", "rounds", "crop"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise UsageError(f"--{key} must be at least 1, got {getattr(args, key)}")
    if args.what == "train-memory":  # a 95-px crop or fdikp failed in the child processes, a table of "killed", exit 0
        from ..bench.benchmarks import check_train_memory

        check_train_memory(args.model, args.crop, args.batch)
    check_flags(args, ("batch", "tile", "threads"))


def run(args) -> int:
    from ..bench import bench_entry, run_benches

    check_args(args)
    code = EXIT_OK
    for rep in run_benches(args.what, args, before=lambda name: say(f"bench {name}: {bench_entry(name).help} …")):
        t = Table(title=rep.title)
        for i, col in enumerate(rep.columns):
            t.add_column(col, justify="right" if len(rep.columns) == 2 and i == 1 else "left")
        for row in rep.rows:
            t.add_row(*row)
        # in a log or a pipe (80 columns) the cells were cut to "syn…", "78/…": as wide as they need there
        (out if out.is_terminal else Console(file=out.file, highlight=False, soft_wrap=True, width=400)).print(t)
        if rep.error:  # a part that failed: said after what was measured, and the exit code says so
            error(rep.error)
            code = max(code, rep.exit_code or EXIT_FAIL)
    return code
