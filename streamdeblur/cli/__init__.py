"""The ``streamdeblur`` command (also ``python -m streamdeblur``).

Exit codes: 0 done; 1 processing failed; 2 bad usage or configuration; 3 unreadable input;
4 output cannot be written; 5 unusable weights; 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM). Errors are one line on stderr (``--debug`` adds the traceback).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .progress import Reporter, final_line

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_WEIGHTS = 0, 1, 2, 3, 4, 5
EXIT_SIGINT, EXIT_SIGTERM = 130, 143

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


def _classify(exc: BaseException) -> int:
    from ..engine.config import ConfigError
    from ..io.sinks import SinkError
    from ..io.sources import SourceError
    from ..models import WeightsError
    from ..scaleout.ray import ExecutorError

    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, ExecutorError):
        return EXIT_USAGE
    if isinstance(exc, (ConfigError, ValueError, KeyError)):
        return EXIT_USAGE
    if isinstance(exc, SourceError):
        return EXIT_INPUT
    if isinstance(exc, SinkError):
        return EXIT_OUTPUT
    if isinstance(exc, WeightsError):
        return EXIT_WEIGHTS
    return EXIT_FAIL


def _message(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = str(msg).strip().splitlines()[0] if str(msg).strip() else type(exc).__name__
    return msg


# -- argument parsing ---------------------------------------------------------------------------


def _add_pipeline_flags(p: argparse.ArgumentParser, default_pipeline: str) -> None:
    p.add_argument(
        "--pipeline", default=default_pipeline, help=f"shipped pipeline name or YAML file (default {default_pipeline})"
    )
    p.add_argument("--model", help="model name (see 'streamdeblur models')")
    p.add_argument("--weights", help="checkpoint path, or 'default' for the bundled weights")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--tile", type=int, help="tile size in pixels (0: whole frames when they fit)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels")
    p.add_argument("--batch", type=int, help="frames per model call (0: auto — 1 on CPU, 2 on CUDA)")
    p.add_argument("--threads", type=int, help="CPU threads for the model")
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on where the CPU has AMX or AVX-512 BF16, or the GPU supports bf16)",
    )
    p.add_argument("--crf", type=int, help="encoder quality, 0…51 for H.264/H.265, 0…63 for VP9/AV1 (lower is better)")
    p.add_argument("--preset", help="encoder preset: ultrafast … medium … veryslow (x264/x265), 0…13 (SVT-AV1)")
    p.add_argument(
        "--codec",
        help="video encoder (default: from the output container — VP9 for .webm, H.264 otherwise; libx265, libsvtav1, …)",
    )
    p.add_argument("--no-audio", action="store_true", help="do not copy audio")
    p.add_argument("--strict", action="store_true", default=None, help="stop at the first corrupt packet")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--remove-partial", action="store_true", help="delete the partial output of a failed run")


def _add_scale_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segments and executors (long videos, many machines)")
    g.add_argument("--segments", type=int, help="cut each video into N segments at keyframes (stream copy); resumable")
    g.add_argument("--segment-seconds", type=float, help="or: segments of about this many seconds")
    g.add_argument("--executor", default="local", choices=["local", "ray"], help="local (default) or ray")
    g.add_argument("--address", help="Ray cluster address (auto, ray://HOST:10001); default: start a local Ray")
    g.add_argument("--workers", type=int, help="Ray workers (default: one per GPU, else one per 2 CPUs)")
    g.add_argument("--retries", type=int, default=2, help="Ray: extra attempts for a failing segment (default 2)")


def _add_cut_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("part of a file (try a few seconds first)")
    g.add_argument("--start", type=float, help="start at this presentation time, in seconds (timestamps are kept)")
    g.add_argument("--duration", type=float, help="process this many seconds")
    g.add_argument("--frames", type=int, help="process at most this many frames")


def _common() -> argparse.ArgumentParser:
    """Options accepted before or after the subcommand (``streamdeblur run … --debug``)."""
    c = argparse.ArgumentParser(add_help=False)
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks with errors")
    c.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print only errors")
    c.add_argument(
        "--progress-interval",
        type=float,
        default=argparse.SUPPRESS,
        metavar="S",
        help="seconds between plain progress lines when the output is not a terminal (default 5)",
    )
    return c


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    common = _common()
    ap = argparse.ArgumentParser(prog="streamdeblur", description="Remove motion and defocus blur from video.", parents=[common])
    ap.set_defaults(debug=False, quiet=False, progress_interval=None)
    ap.add_argument("--version", action="version", version=f"streamdeblur {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, **kw) -> argparse.ArgumentParser:  # every subcommand takes the common options
        return sub.add_parser(name, parents=[common], **kw)

    p = add("run", help="deblur a video file, stream or image folder")
    p.add_argument("input", help="video file, stream URL, image folder or glob")
    p.add_argument(
        "-o",
        "--output",
        help="output video (.mp4, .mkv, .webm …) or image folder (default: NAME_deblurred.EXT next to the input)",
    )
    p.add_argument("--fps", type=float, default=25.0, help="frame rate for image-sequence inputs (default 25)")
    _add_pipeline_flags(p, "motion")
    _add_cut_flags(p)
    _add_scale_flags(p)

    p = add("webcam", help="live correction from a camera or stream, with preview")
    p.add_argument("--camera", default="0", help="camera index, /dev/videoN or a stream URL (default 0)")
    p.add_argument(
        "--preview",
        action="store_true",
        default=None,
        help="show a preview window (off by default; needs a display — without one, -o still records)",
    )
    p.add_argument("--no-preview", dest="preview", action="store_false", help="no preview window (the default)")
    p.add_argument("-o", "--output", help="also record to this video file")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--reconnect", type=int, default=5, help="reopen attempts after a disconnect (default 5)")
    _add_pipeline_flags(p, "webcam")

    p = add("batch", help="process many files; resumes, never stops at one failure")
    p.add_argument("inputs", nargs="+", help="files, folders or globs")
    p.add_argument("--out-dir", required=True, help="folder for the outputs (created; same names as the inputs)")
    p.add_argument("--suffix", default=None, help="output container suffix (default: same as input, .mp4 for others)")
    _add_pipeline_flags(p, "batch")
    _add_cut_flags(p)
    _add_scale_flags(p)

    add("info", help="versions, devices, codecs, models, stages, pipelines")
    p = add("models", help="model table: parameters, GMACs, CPU speed")
    p.add_argument("--no-timing", action="store_true", help="skip the CPU timing column")
    p.add_argument("--quick", action="store_true", help="names, tasks, parameters and weights only (no MACs, no timing): instant")

    p = add("bench", help="throughput benchmark: model-only vs end-to-end vs a naive loop")
    p.add_argument("--model", default="deeprftv2-t", help="model to measure (default deeprftv2-t)")
    p.add_argument("--size", default="640x360", help="frame size WxH of the synthetic clip (default 640x360)")
    p.add_argument("--frames", type=int, default=24, help="frames of the synthetic clip (default 24)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch", type=int, default=0, help="frames per model call (0: auto, as in the pipeline)")
    p.add_argument("--tile", type=int, default=0, help="tile size in pixels (0: whole frames)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: auto, as in the pipeline")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the model (0: leave as is)")
    p.add_argument("--crop", type=int, default=96, help="train-memory: crop size of the training batch")
    p.add_argument("--what", default="all", help="all | throughput | scan | bf16 | memory | train-memory")
    p.add_argument("--subset", help="bf16: an evaluation set (.pt) to use instead of the motion eval subset")

    p = add("data", help="training data")
    dsub = p.add_subparsers(dest="data_command", required=True)
    d = dsub.add_parser("build", parents=[common], help="assemble sharp content from Debian packages and your folders")
    d.add_argument("--out", default="data/sharp", help="output folder (default data/sharp)")
    d.add_argument("--source", action="append", default=[], help="your own folder of sharp images/videos (repeatable)")
    d.add_argument("--no-debian", action="store_true", help="only your folders")
    d.add_argument("--cache", help="where .deb files are downloaded and unpacked (default OUT/debs)")
    d.add_argument("--eval-crops", type=int, default=4, help="evaluation crops per validation image (test: twice)")

    p = add("train", help="train a model from a YAML recipe (resumable)")
    p.add_argument("config", help="training recipe (YAML), e.g. streamdeblur/train/configs/motion-t-cpu.yaml")
    p.add_argument("--steps", type=int, help="override the step count")
    p.add_argument("--threads", type=int, help="override the CPU threads (runtime only; the recipe is unchanged)")
    p.add_argument("--minutes", type=float, help="time budget of this session (checkpoints every minute; resumable)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (bf16 autocast as the recipe says)")
    p.add_argument(
        "--resume-anyway", action="store_true", help="resume although the recipe or code changed (recorded in the run's log)"
    )
    p.add_argument("--export", help="after training, write the EMA weights (fp16) here")
    p.add_argument("--export-only", action="store_true", help="only export the run's current checkpoint (no training)")
    p.add_argument(
        "--card-subset",
        help="after exporting into the package, evaluate and write the weight card "
        "(held-out set from the config, plus this committed subset, e.g. tests/data/eval_subset_motion.pt)",
    )

    p = add("eval", help="PSNR/SSIM on the held-out split: baselines and models")
    p.add_argument(
        "--eval-set",
        default="data/sharp/eval_motion.pt",
        help="evaluation set (.pt) from 'data build' (default data/sharp/eval_motion.pt)",
    )
    p.add_argument("--model", action="append", default=[], help="model[:weights] to evaluate (repeatable)")
    p.add_argument("--out", default="runs/eval", help="folder for the Markdown table and the example strip")
    p.add_argument("--limit", type=int, help="only the first N samples")
    return ap


# -- commands -----------------------------------------------------------------------------------


def _config(args) -> object:
    from ..engine.config import apply_overrides, load_pipeline

    cfg = load_pipeline(args.pipeline)
    return apply_overrides(
        cfg,
        model=args.model,
        weights=args.weights,
        device=args.device,
        tile=args.tile,
        overlap=args.overlap,
        batch=args.batch,
        threads=args.threads,
        bf16=args.bf16,
        crf=args.crf,
        preset=args.preset,
        codec=args.codec,
        strict=args.strict,
        no_audio=args.no_audio,
        keep_partial=False if args.remove_partial else None,
        preview=getattr(args, "preview", None),
    )


class _Signals:
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


@dataclass
class Display:
    """How much the CLI prints (set from ``--quiet`` and ``--progress-interval``)."""

    quiet: bool = False
    interval: float | None = None


display = Display()


def _warn(msg: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(msg)}")


def _say(msg: str) -> None:
    if not display.quiet:
        err.print(escape(msg))


def _progress_bar() -> Progress:
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
    job, label: str, duration: float | None = None, stages: list | None = None, announce: bool = True
) -> tuple[int, object]:
    """Run one job, showing its progress (see :mod:`.progress`); returns (exit code, RunResult or None).

    Args:
        job: what to run.
        label: what the progress lines are about (file name, ``camera 0`` …).
        duration: live sources: stop after this many seconds.
        stages: built stages to reuse (segments of one run share one model).
        announce: print ``wrote PATH`` at the end (segments do not).
    """
    from ..engine.build import build

    with _Signals() as sig:  # while building; the pipeline handles signals itself while it runs
        try:
            pipe = build(job, warn=_warn, stages=stages, say=_say)
        except KeyboardInterrupt:
            return sig.code, None
    start = time.monotonic()
    with Reporter(err, label, quiet=display.quiet, interval=display.interval) as rep:

        def on_progress(p) -> None:
            rep.update(p)
            if duration is not None and time.monotonic() - start > duration:
                pipe.request_stop()

        result = pipe.run(on_progress)
    p = result.progress
    if result.error:
        code = {"SourceError": EXIT_INPUT, "SinkError": EXIT_OUTPUT, "WeightsError": EXIT_WEIGHTS}.get(
            result.error_kind or "", EXIT_FAIL
        )
        where = f" (partial output kept: {result.output})" if result.output and Path(result.output).exists() else ""
        rep.say(f"stopped after {final_line(p)}")
        err.print(f"[red]streamdeblur: error:[/red] {escape(result.error + where)}")
        return code, result
    if result.interrupted:
        code = EXIT_SIGTERM if pipe.signal_received == signal.SIGTERM else EXIT_SIGINT
        err.print(escape(f"interrupted after {final_line(p)}; playable partial output: {result.output}"))
        return code, result
    rep.say(final_line(p))
    if result.output is not None and announce and not display.quiet:
        out.print(escape(f"wrote {result.output}"))
    return EXIT_OK, result


def run_segmented(inp: str, output: str, cfg, args) -> tuple[int, object]:
    """One video in segments on this machine: resume finished ones, process the rest, join."""
    from ..engine.build import Job, build_stages
    from ..scaleout.plan import finish, prepare, segment_config

    plan = prepare(inp, output, cfg, segments=args.segments, seconds=args.segment_seconds, overwrite=args.overwrite, warn=_warn)
    n = len(plan.specs)
    err.print(
        escape(
            f"{Path(inp).name}: {n} segments (work folder {plan.work}); "
            f"reusing {plan.reused} finished, processing {len(plan.todo)}"
        )
    )
    stages = build_stages(cfg, warn=_warn) if plan.todo else None
    for i in plan.todo:
        job = Job(str(plan.src(i)), str(plan.dst(i)), segment_config(cfg), overwrite=True)
        code, result = run_job(job, f"{Path(inp).name} segment {i + 1}/{n}", stages=stages, announce=False)
        if code != EXIT_OK:
            err.print(
                escape(f"{len(plan.done)} of {n} segments are finished in {plan.work}; run the same command again to resume")
            )
            return code, result
        plan.mark_done(i)
    path = finish(plan, audio=cfg.output.audio, warn=_warn)
    out.print(f"wrote {path}")
    return EXIT_OK, path


def run_on_ray(pairs: list[tuple[Path, Path]], cfg, args) -> list:
    """Files (and their segments) over a Ray cluster, with one progress bar for all of them."""
    from ..scaleout.ray import run_ray

    prog = _progress_bar()
    start = time.monotonic()
    with prog:
        task = prog.add_task("ray", total=None, line="")  # frames of all files and segments

        def on_progress(done: int, total: int, files_done: int, files: int) -> None:
            fps = done / max(time.monotonic() - start, 1e-6)
            prog.update(
                task, completed=done, total=total, line=f"{done}/{total} frames  {fps:.2f} fps  files {files_done}/{files}"
            )

        return run_ray(
            pairs,
            cfg,
            segments=args.segments,
            seconds=args.segment_seconds,
            address=args.address,
            workers=args.workers,
            retries=args.retries,
            overwrite=args.overwrite,
            warn=_warn,
            on_progress=on_progress,
        )


def default_output(inp: str) -> str:
    """``clip.mp4`` → ``clip_deblurred.mp4`` next to it; an image folder ``shots/`` → ``shots_deblurred/``."""
    from ..io.sources.base import _is_url

    if _is_url(inp) or any(ch in inp for ch in "*?["):
        raise CliError("give the output with -o (no default name for a stream or a glob)", EXIT_USAGE)
    p = Path(inp)
    if p.is_dir():
        return str(p.with_name(f"{p.name}_deblurred")) + "/"
    return str(p.with_name(f"{p.stem}_deblurred{p.suffix}"))


def _cut(args):
    """The ``--start``/``--duration``/``--frames`` part of a file, range-checked (None: the whole file)."""
    from ..engine.limits import check_value
    from ..io.sources.cut import Cut

    given = {k: getattr(args, k, None) for k in ("start", "duration", "frames")}
    for key, value in given.items():
        try:
            check_value(key, value)
        except ValueError as exc:
            raise CliError(f"--{exc}", EXIT_USAGE) from None
    cut = Cut(start=given["start"] or 0.0, duration=given["duration"], frames=given["frames"])
    if cut and (getattr(args, "segments", None) or getattr(args, "segment_seconds", None) or args.executor == "ray"):
        raise CliError("--start/--duration/--frames cannot be combined with segments or Ray yet", EXIT_USAGE)
    return cut or None


def cmd_run(args) -> int:
    from ..engine.build import Job

    if args.output is None:
        args.output = default_output(args.input)
    cut = _cut(args)
    if args.executor == "ray":
        from ..scaleout.ray import import_ray

        import_ray()
        (oc,) = run_on_ray([(Path(args.input), Path(args.output))], _config(args), args)
        if not oc.ok:
            raise CliError(oc.error or "failed", EXIT_FAIL)
        out.print(f"wrote {oc.output} ({oc.segments} segments, {oc.reused} reused)")
        return EXIT_OK
    if args.segments or args.segment_seconds:
        code, _ = run_segmented(args.input, args.output, _config(args), args)
        return code
    job = Job(args.input, args.output, _config(args), overwrite=args.overwrite, fps=args.fps, cut=cut)
    code, _ = run_job(job, Path(str(args.input)).name or str(args.input))
    return code


def cmd_webcam(args) -> int:
    from ..engine.build import Job

    cfg = _config(args)
    if args.output is None and not cfg.preview:
        raise CliError("nothing to show or record: add --preview or -o RECORDING.mp4", EXIT_USAGE)
    job = Job(args.camera, args.output or "-", cfg, overwrite=args.overwrite, camera=True, reconnect=args.reconnect)
    code, _ = run_job(job, f"camera {args.camera}", duration=args.duration)
    return code


def cmd_batch(args) -> int:
    from .batch import run_batch

    return run_batch(args, _config(args), run_job, out, err, run_segmented=run_segmented, run_on_ray=run_on_ray, cut=_cut(args))


def cmd_info(args) -> int:
    from .info import print_info

    print_info(out)
    return EXIT_OK


def cmd_models(args) -> int:
    from .info import print_models

    print_models(out, timing=not args.no_timing, quick=args.quick)
    return EXIT_OK


def cmd_bench(args) -> int:
    from ..bench.benchmarks import run_bench

    return run_bench(args, out)


def cmd_data(args) -> int:
    from ..train.data import BuildOptions, build
    from ..train.dataset import make_eval_sets

    dest = Path(args.out)
    opts = BuildOptions(
        out=dest,
        debian=not args.no_debian,
        sources=tuple(Path(s) for s in args.source),
        cache=Path(args.cache) if args.cache else None,
    )
    manifest = build(opts, log=lambda m: err.print(escape(m)))
    sets = make_eval_sets(dest, {"val": args.eval_crops, "test": 2 * args.eval_crops})
    kept = [e for e in manifest["files"] if "split" in e]
    count = {s: sum(e["split"] == s for e in kept) for s in ("train", "val", "test")}
    crops = ", ".join(f"{k} {len(v['blurry'])}" for k, v in sets.items())
    out.print(
        f"built {dest}: {count['train']} training, {count['val']} validation and {count['test']} test sources; "
        f"evaluation crops: {crops}; manifest {dest / 'manifest.json'}"
    )
    return EXIT_OK


def cmd_train(args) -> int:
    from ..train.trainer import ResumeRefused, TrainConfig, Trainer, export_checkpoint

    over = {k: v for k, v in (("steps", args.steps), ("threads", args.threads)) if v is not None}
    cfg = TrainConfig.from_yaml(args.config, over or None)
    if args.export_only:
        if not args.export:
            raise CliError("--export-only needs --export PATH", EXIT_USAGE)
        out.print(f"exported {export_checkpoint(Path(cfg.out) / 'last.pt', Path(args.export))}")
        _card(args, cfg)
        return EXIT_OK
    try:
        trainer = Trainer(
            cfg, log=lambda m: err.print(escape(m)), device=args.device, minutes=args.minutes, resume_anyway=args.resume_anyway
        )
    except ResumeRefused as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    trainer.run()
    if args.export:
        out.print(f"exported {trainer.export(Path(args.export))}")
        _card(args, cfg)
    return EXIT_OK


def _card(args, cfg) -> None:
    if not args.card_subset:
        return
    from ..train.card import write_card

    path = write_card(cfg.model, Path(args.export).name, cfg.eval_set, args.card_subset, curve=f"{cfg.out}/loss.png")
    out.print(f"card {path} and {path.with_suffix('.md')}")


def cmd_eval(args) -> int:
    from ..train.evaluate import run_eval

    return run_eval(args, out)


COMMANDS: dict[str, Callable] = {
    "run": cmd_run,
    "webcam": cmd_webcam,
    "batch": cmd_batch,
    "info": cmd_info,
    "models": cmd_models,
    "bench": cmd_bench,
    "data": cmd_data,
    "train": cmd_train,
    "eval": cmd_eval,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    display.quiet, display.interval = bool(args.quiet), args.progress_interval
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_SIGINT
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if args.debug:
            import traceback

            traceback.print_exc()
        err.print(f"[red]streamdeblur: error:[/red] {escape(_message(exc))}")
        return _classify(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
