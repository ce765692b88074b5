"""The argument parser: the flags several commands share, and the top-level parser that asks each
command module (``NAME``, ``HELP``, ``add_arguments``) for its own."""

from __future__ import annotations

import argparse
import math
import sys
from types import ModuleType

from ..errors import EXIT_USAGE, UsageError


class OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit 2 (``-h`` shows the usage)."""

    def error(self, message: str):  # type: ignore[override]
        from .console import error

        error(f"{message} (see {self.prog} --help)", where=self.prog)
        sys.exit(EXIT_USAGE)


def version() -> str:
    """The installed package's version (the CLI sits below the package root, so it asks the installer)."""
    from importlib import metadata

    try:
        return metadata.version("streamdeblur")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def add_pipeline_flags(p: argparse.ArgumentParser, default_pipeline: str) -> None:
    """The flags that pick and adjust a pipeline (``run``, ``webcam``, ``batch``)."""
    p.add_argument(
        "--pipeline", default=default_pipeline, help=f"shipped pipeline name or YAML file (default {default_pipeline})"
    )
    p.add_argument("--model", help="model name (see 'streamdeblur models')")
    p.add_argument("--weights", help="checkpoint path, or 'default' for the bundled weights")
    p.add_argument(
        "--guard",
        help="do-no-harm gate of the model stage: auto (the one shipped with the weights), off (raw model output), or a file",
    )
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--tile", type=int, help="tile size in pixels (0: whole frames when they fit; a pipeline's overlap too large shrinks)"
    )
    p.add_argument("--overlap", type=int, help="tile overlap in pixels")
    p.add_argument("--batch", type=int, help="frames per model call (0: auto — 1 on CPU, 2 on CUDA)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the model (default 0: one per CPU this process may use, or OMP_NUM_THREADS; 'info' shows it)",
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on where the CPU has AMX or AVX-512 BF16, or the GPU supports bf16)",
    )
    p.add_argument(
        "--crf",
        type=int,
        help="encoder quality, 0…51 for H.264/H.265 (MPEG-4/MJPEG: mapped to a quantiser), 0…63 for VP9/AV1 (lower is better)",
    )
    p.add_argument("--preset", help="encoder preset: ultrafast … medium … veryslow (x264/x265), 0…13 (SVT-AV1)")
    p.add_argument(
        "--codec",
        help="video encoder (default: from the output container — VP9 for .webm, H.264 otherwise; libx265, libsvtav1, …)",
    )
    p.add_argument(
        "--chroma",
        choices=("auto", "420", "422", "444"),
        help="chroma subsampling of the output video (default auto: the source's — 4:2:0 for phone and camera footage, "
        "4:4:4 kept for screen recordings and RGB sources; 420 for browsers and phones)",
    )
    p.add_argument("--no-audio", action="store_true", help="do not copy audio")
    p.add_argument("--strict", action="store_true", default=None, help="stop at the first corrupt packet")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--remove-partial", action="store_true", help="delete the partial output of a failed run")


def add_scale_flags(p: argparse.ArgumentParser) -> None:
    """Segments and executors (``run``, ``batch``); ``--executor`` offers the registered ones."""
    from ..scaleout import executor_class, list_executors

    names = list_executors()
    g = p.add_argument_group("segments and executors (long videos, many machines)")
    g.add_argument("--segments", type=int, help="cut each video into N segments at keyframes (stream copy); resumable")
    g.add_argument("--segment-seconds", type=float, help="or: segments of about this many seconds")
    g.add_argument(
        "--executor",
        default="local",
        choices=names,
        help="; ".join(f"{n}: {executor_class(n).help}" for n in names),
    )
    g.add_argument("--address", help="Ray cluster address (auto, ray://HOST:10001); default: start a local Ray")
    g.add_argument("--workers", type=int, help="Ray workers (default: one per GPU, else one per 2 CPUs)")
    g.add_argument("--retries", type=int, help="Ray: extra attempts for a failing segment (default 2)")
    g.add_argument(
        "--worker-nice",
        type=int,
        help="Ray: niceness workers add to this command's (default 0: the same; Ray's own default is 15)",
    )


#: the flags only the Ray executor reads, and their defaults (set once the executor is known to be Ray)
RAY_FLAGS = {"address": None, "workers": None, "retries": 2, "worker_nice": 0}


def check_executor_flags(args) -> None:
    """Refuse the Ray-only flags without ``--executor ray`` (``--address 1.2.3.4:6379`` ran on this machine without
    a word), then give the unset ones their defaults."""
    given = [k for k in RAY_FLAGS if getattr(args, k, None) is not None]
    if given and getattr(args, "executor", "local") != "ray":
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given)
        raise UsageError(f"{names} apply to --executor ray only (this run's executor: {getattr(args, 'executor', 'local')})")
    for key, default in RAY_FLAGS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, default)


def add_cut_flags(p: argparse.ArgumentParser) -> None:
    """``--start``/``--duration``/``--frames``: a part of a file (``run``, ``batch``)."""
    g = p.add_argument_group("part of a file (try a few seconds first)")
    g.add_argument("--start", type=float, help="start at this presentation time, in seconds (timestamps are kept)")
    g.add_argument("--duration", type=float, help="process this many seconds")
    g.add_argument("--frames", type=int, help="process at most this many frames")


def check_flags(args, keys) -> None:
    """Each of ``args``' flags ``keys`` (attribute names) against the shared table of
    ``engine/limits.py``; the first out of range is a one-line :class:`UsageError` naming the flag."""
    from ..engine.limits import check_value

    for key in keys:
        try:
            check_value(key, getattr(args, key, None))
        except ValueError as exc:
            raise UsageError(f"--{str(exc).replace('_', '-')}") from None


def cut_from_args(args):
    """The ``--start``/``--duration``/``--frames`` part of a file, range-checked (None: the whole file).

    Args:
        args: parsed arguments of ``run`` or ``batch``.

    Returns:
        A :class:`~streamdeblur.io.sources.cut.Cut`, or None when no part was asked for.
    """
    from ..io.sources.cut import Cut

    given = {k: getattr(args, k, None) for k in ("start", "duration", "frames")}
    scale = {k: getattr(args, k, None) for k in ("segments", "segment_seconds", "workers", "retries")}
    check_flags(args, [*given, *scale])
    check_executor_flags(args)
    if scale["segments"] and scale["segment_seconds"]:
        raise UsageError("give --segments or --segment-seconds, not both")
    cut = Cut(start=given["start"] or 0.0, duration=given["duration"], frames=given["frames"])
    if cut and (getattr(args, "segments", None) or getattr(args, "segment_seconds", None) or args.executor != "local"):
        raise UsageError("--start/--duration/--frames cannot be combined with segments or Ray yet")
    return cut or None


def common_flags() -> argparse.ArgumentParser:
    """Options accepted before or after the subcommand (``streamdeblur run … --debug``)."""
    c = argparse.ArgumentParser(add_help=False)
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks with errors")
    c.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on stderr only errors and warnings (results, wrote … and a batch's table, still go to stdout)",
    )
    c.add_argument(
        "--progress-interval",
        type=_interval,
        default=argparse.SUPPRESS,
        metavar="S",
        help="seconds between plain progress lines when the output is not a terminal (default 5)",
    )
    return c


def _interval(text: str) -> float:
    """``--progress-interval``: seconds, 0 or more (``-5`` ran as 0 and ``nan`` turned progress off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds expected, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"seconds expected (0 or more), got {text!r}")
    return value


def config_from_args(args):
    """The pipeline named by ``--pipeline`` with the command line's overrides applied."""
    from ..engine.config import apply_overrides, load_pipeline

    cfg = load_pipeline(args.pipeline)
    return apply_overrides(
        cfg,
        model=args.model,
        weights=args.weights,
        guard=args.guard,
        device=args.device,
        tile=args.tile,
        overlap=args.overlap,
        batch=args.batch,
        threads=args.threads,
        bf16=args.bf16,
        crf=args.crf,
        preset=args.preset,
        chroma=getattr(args, "chroma", None),
        codec=args.codec,
        strict=args.strict,
        no_audio=args.no_audio,
        keep_partial=False if args.remove_partial else None,
        preview=getattr(args, "preview", None),
        overlay=getattr(args, "overlay", None),
    )


def build_parser(commands: list[ModuleType]) -> argparse.ArgumentParser:
    """The ``streamdeblur`` parser with one sub-command per command module."""
    ap = OneLineParser(prog="streamdeblur", description="Remove motion and defocus blur from video.", parents=[common_flags()])
    # set_defaults also rewrites the defaults of the parser's own actions: each subcommand gets its
    # own copies of the common flags (a fresh common_flags()), so their SUPPRESS default stays and a
    # flag given before the subcommand is not overwritten by the subcommand's default
    ap.set_defaults(debug=False, quiet=False, progress_interval=None)
    ap.add_argument("--version", action="version", version=f"streamdeblur {version()}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for cmd in commands:  # every subcommand takes the common options too
        cmd.add_arguments(sub.add_parser(cmd.NAME, help=cmd.HELP, parents=[common_flags()]))
    return ap
