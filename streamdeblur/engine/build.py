"""Build a runnable :class:`~streamdeblur.engine.pipeline.Pipeline` from a config, an input and an output.

This is the one place that wires sources, stages and sinks together; the CLI and the Python API
(:func:`streamdeblur.process`) both go through :func:`build`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import torch

from ..compute.runtime import choose_device, codec_threads, compute_policy, configure
from ..io.color import UNSUPPORTED_MATRICES, chroma_label, chroma_of
from ..io.context import ContextRange
from ..io.paths import is_glob, is_url
from ..io.sinks import ImageFileSink, ImageSink, NullSink, PreviewSink, TeeSink, VideoSink, check_output, display_problem
from ..io.sinks.encoders import Encoder, choose_encoder, for_deep_source
from ..io.sources import IMAGE_EXTS, ImageSource, SourceError, open_source
from ..io.sources.cut import Cut, CutSource
from ..stages import StageContext, create_stage, stage_class
from ..stages.window import WindowedStage
from .config import ConfigError, PipelineConfig
from .pipeline import Pipeline, output_info


@dataclass
class Job:
    """One input → one output under one pipeline config."""

    input: str
    output: str | None  #: video file, image folder (trailing / or no suffix), ``-`` for none
    config: PipelineConfig
    overwrite: bool = False
    camera: bool = False
    fps: float = 25.0
    reconnect: int = 5
    #: segmented runs: (start pts, end pts or None, past, future) — frames outside [start, end) are
    #: temporal context only (:class:`~streamdeblur.io.context.ContextRange`)
    context: tuple[int, int | None, int, int, int] | None = None
    cut: Cut | None = None  #: only a part of a file (``--start``/``--duration``/``--frames``)
    #: a segment of a segmented run: (the final output's name, the whole input's frame rate). The
    #: segment's encoder is the one a single run chooses for that output (VP9 for .webm: H.264 parts
    #: could not be joined into it), at the whole input's rate (each part's own average rate gave a
    #: variable-rate clip's parts different H.264 levels, which cannot be joined)
    encode_as: tuple[str, Fraction | None] | None = None


def _needs(cfg: PipelineConfig) -> list[frozenset[str]]:
    """For each stage, the side outputs later stages require from it."""
    provide = []
    for i, spec in enumerate(cfg.stages):
        later = set().union(*[stage_class(s.name).requires for s in cfg.stages[i + 1 :]]) if i + 1 < len(cfg.stages) else set()
        provide.append(frozenset(later & stage_class(spec.name).provides))
    return provide


def _compute(cfg: PipelineConfig) -> tuple[torch.device, int, bool]:
    """Device chosen and configured (threads), then the batch and bf16 policy for it."""
    try:
        device = choose_device(cfg.device)
    except ValueError as exc:  # the pipeline's device (a file's key, --device or an API override): its error kind
        raise ConfigError(str(exc)) from None
    configure(device, cfg.threads)
    batch, bf16 = compute_policy(device, cfg.batch, cfg.bf16)
    return device, batch, bf16


def build_stages(cfg: PipelineConfig, warn: Callable[[str], None] = print, say: Callable[[str], None] | None = None) -> list:
    """The config's stages, built on the chosen device (models loaded); reusable across jobs."""
    device, _, bf16 = _compute(cfg)
    return _stages(cfg, device, bf16, warn, say)


@dataclasses.dataclass
class Prepared:
    """A config's stages, built once (models loaded), with the device and batch size they run at."""

    stages: list
    device: torch.device
    batch: int
    threads: int = 0  #: the config's model threads (0: default), set on each run's stage thread


def prepare(cfg: PipelineConfig, warn: Callable[[str], None] = print, say: Callable[[str], None] | None = None) -> Prepared:
    """Build ``cfg``'s stages for several runs over sources a caller opens itself (the Python API)."""
    device, batch, bf16 = _compute(cfg)
    return Prepared(_stages(cfg, device, bf16, warn, say), device, batch, cfg.threads)


def single_frame_stages(stages: list, warn: Callable[[str], None], pipeline: str = "--pipeline motion") -> list:
    """The stages a still image goes through: those that need no neighbouring frames (a warning
    when that leaves none: the pictures come out unprocessed, though re-encoded: a JPEG is a new JPEG).
    ``pipeline``: how the warning names the pipeline that deblurs photographs (the API: ``pipeline="motion"``)."""
    if stages and all(isinstance(s, WindowedStage) for s in stages):
        warn(
            "every stage of this pipeline works on neighbouring video frames: "
            "still images are written out unprocessed, re-encoded as the output asks "
            f"(use {pipeline} to deblur photographs)"
        )
    return [s for s in stages if not isinstance(s, WindowedStage)]


def _stages(
    cfg: PipelineConfig, device, bf16: bool, warn: Callable[[str], None], say: Callable[[str], None] | None = None
) -> list:
    said: set[str] = set()

    def once(message: str) -> None:  # two stages of a kind say the same (motion's two fusions at 640×360): once
        if message not in said:
            said.add(message)
            if say is not None:
                say(message)

    ctx = StageContext(device=device, warn=warn, bf16=bf16, say=once)
    return [create_stage(s.name, s.options, dataclasses.replace(ctx, provide=p)) for s, p in zip(cfg.stages, _needs(cfg))]


def is_image_file_output(out: str | None) -> bool:
    """True for one image file (``sharp.png``, ``IMG_1.jpg``: an image format's extension)."""
    return bool(out) and out != "-" and not out.endswith("/") and Path(out).suffix.lower() in IMAGE_EXTS


def is_video_output(out: str | None) -> bool:
    """True for a video file name; False for an image folder (trailing ``/`` or no suffix), an image
    file (:func:`is_image_file_output`) or ``-``/None (no output)."""
    return bool(out) and out != "-" and Path(out).suffix != "" and not out.endswith("/") and not is_image_file_output(out)


def choose_output_encoder(cfg: PipelineConfig, out: str) -> Encoder:
    """The encoder for video file ``out`` (see :mod:`streamdeblur.io.sinks.encoders`), checked; ``ConfigError`` if unusable."""
    o = cfg.output
    try:
        asked = cfg.overridden
        encoder = choose_encoder(o.codec, Path(out).suffix, o.crf, o.preset, "codec" in asked, "preset" in asked)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    formats = av.codec.Codec(encoder.codec, "w").video_formats or []
    if o.chroma != "auto" and not any(chroma_of(f.name) == o.chroma for f in formats):
        # asked for 4:2:2 / 4:4:4 the encoder cannot write: said before any model loads
        raise ConfigError(f"{encoder.codec} cannot write {chroma_label(o.chroma)} chroma; try --codec libx265")
    return encoder


def preview_wanted(cfg: PipelineConfig, out: str | None, say: Callable[[str], None]) -> bool:
    """Whether to open a preview window: asked for and a display exists.

    Without a display, a run that records goes on without the window (and says so); one that
    has nothing else to do is a usage error.
    """
    if not cfg.preview:
        return False
    problem = display_problem()
    if problem is None:
        return True
    if out and out != "-":
        say(f"no display ({problem}): no preview window; recording to {out}")
        return False
    raise ConfigError(f"no display for the preview window ({problem}): record with -o FILE, or run under a desktop/Xvfb")


def build(
    job: Job,
    warn: Callable[[str], None] = print,
    stages: list | None = None,
    say: Callable[[str], None] | None = None,
) -> Pipeline:
    """Open the source, build the stages and the sink, return the pipeline (not started).

    Everything that can be checked without the model (output path, encoder and its options,
    preview) is checked first, so a mistake costs no model load.

    Args:
        job: input, output and config.
        warn: receives warnings (one line each).
        stages: already built stages for ``job.config`` (a worker that runs many jobs keeps one
            model instance); built here when None.
        say: receives what the run chose for the user (encoder, preview), one line each; default: dropped.

    Returns:
        The pipeline, ready to :meth:`~streamdeblur.engine.pipeline.Pipeline.run`.
    """
    say = say or (lambda m: None)
    cfg = job.config
    out = job.output
    is_video_out = is_video_output(out)
    is_image_out = is_image_file_output(out)
    encoder = None
    if is_video_out:
        inputs = [Path(job.input)] if Path(str(job.input)).exists() else []
        check_output(Path(out), inputs, job.overwrite)
        like = job.encode_as[0] if job.encode_as else out  # the encoder is chosen for this name
        encoder = choose_output_encoder(cfg, like)
        if encoder.note:
            warn(encoder.note)
    elif is_image_out:
        inp = Path(str(job.input))
        if job.camera or is_url(str(job.input)) or str(job.input).isdigit():  # "input not found: http://…"
            raise ConfigError(f"{out} is one image file, but {job.input} is a camera or stream: give a video file (-o NAME.mp4)")
        if not inp.exists() and not is_glob(inp):  # a mistyped photo's name: "... is not one image: give a folder"
            raise SourceError(f"input not found: {job.input}")
        if not (inp.is_file() and inp.suffix.lower() in IMAGE_EXTS):
            folder = Path(out).with_suffix("")
            if inp.is_dir() and folder.resolve() == inp.resolve():  # (-o photos.png from photos/: not "-o photos/")
                folder = folder.with_name(f"{folder.name}_deblurred")
            raise ConfigError(
                f"{out} is one image file, but {job.input} is not one image: give a folder (-o {folder}/) or a video file"
            )
        check_output(Path(out), [inp], job.overwrite)
    video_keys = [k for k in ("codec", "crf", "preset", "chroma") if k in cfg.overridden]
    if video_keys and out and out != "-" and not is_video_out:  # taken without a word for a photo or image folder
        warn(
            f"{', '.join(video_keys)} apply to video outputs: ignored for pictures (JPEG at quality 95, PNG and "
            "TIFF lossless, each as its format)"
        )
    preview = preview_wanted(cfg, out, say)
    device, batch, bf16 = _compute(cfg)
    threads = codec_threads(device)
    source = open_source(
        job.input,
        camera=job.camera,
        strict=cfg.strict,
        fps=job.fps,
        reconnect=job.reconnect,
        on_warning=warn,
        codec_threads=threads,
    )
    still = isinstance(source, ImageSource)  # decided before any wrapper below
    if source.info.color.matrix in UNSUPPORTED_MATRICES.values():  # swscale: "Unsupported input" after the model loaded
        source.close()
        raise SourceError(
            f"{source.info.name}'s colour matrix ({source.info.color.matrix}) cannot be read: "
            "streamdeblur reads the BT.601, BT.709, BT.2020, SMPTE 240M and FCC matrices"
        )
    if source.info.interlaced:
        say("interlaced video: deinterlaced as it is decoded (FFmpeg's bwdif, one frame per frame, timestamps kept)")
    if encoder is not None and cfg.output.codec in ("", "auto") and source.info.color.bit_depth > 8:  # "--codec auto" too
        deep = for_deep_source(encoder, Path(like).suffix, source.info.color.bit_depth)
        if deep is not encoder:  # changed: say why (an unchanged one keeps its own note, already warned)
            encoder = deep
            say(deep.note)
    turn = source.info.orientation
    if turn is not None:
        portrait = " (a phone's portrait clip)" if turn.transpose else ""  # 180°: upside down, not portrait
        say(
            f"the video is {turn.describe()} for display{portrait}: "
            f"processed and written upright, {source.info.width}x{source.info.height}"
        )
    if job.cut:
        if source.info.live:
            source.close()
            raise ConfigError(
                "a cut (start, duration, frames) applies to files, not to live streams; to record N seconds of one: "
                "streamdeblur webcam --camera URL --duration N -o NAME.mp4"
            )
        source = CutSource(source, job.cut)
    if job.context is not None:
        source = ContextRange(source, *job.context)
    sinks: list = []
    try:
        folder = None
        if out and out != "-" and not is_video_out and not is_image_out:
            files = list(getattr(source, "files", None) or []) if still else None
            folder = ImageSink(out, overwrite=job.overwrite, inputs=files, warn=warn)
            folder.check(files)  # before the model loads: no input or existing image is written over
            if source.info.has_audio or source.info.has_subtitles:  # `-o result` (a typo for result.mp4?)
                warn(f"{out} is a folder of images (no video suffix): the sound and subtitles of the input are not kept")
            if source.info.covers:
                warn(f"{source.info.name} carries a cover picture or attached files ({source.info.covers}); they are not kept")
        if stages is None:
            stages = _stages(cfg, device, bf16, warn, say)
        info = output_info(source.info, stages)
        seen = source.rate_seen() if is_video_out and hasattr(source, "rate_seen") else None
        if seen is not None:  # a camera's rate as its frames come, not OpenCV's guess (25 for MJPEG over HTTP)
            info = dataclasses.replace(info, fps=seen)
        if job.encode_as and job.encode_as[1]:
            info = dataclasses.replace(info, fps=job.encode_as[1])
        if is_video_out:
            o = cfg.output
            sinks.append(
                VideoSink(
                    out,
                    info,
                    codec=encoder.codec,
                    crf=encoder.crf,
                    preset=encoder.preset,
                    audio=o.audio,
                    keep_partial=o.keep_partial,
                    overwrite=job.overwrite,
                    warn=warn,
                    threads=threads,
                    chroma=o.chroma,
                    strict=cfg.strict,
                )
            )
            say(_describe(encoder, out, sinks[-1].chroma_note))
        elif is_image_out:
            sinks.append(ImageFileSink(out, warn=warn, overwrite=job.overwrite))
        elif folder is not None:
            sinks.append(folder)
        if preview:
            sinks.append(PreviewSink(overlay=cfg.overlay))
            say("preview window: q or Esc stops; o shows or hides the overlay (delivered fps, latency, drops)")
        sink = sinks[0] if len(sinks) == 1 else TeeSink(*sinks) if sinks else NullSink()
    except BaseException:
        for s in sinks:  # Ctrl-C after the encoder opened: no empty partial file left
            try:
                s.close(complete=False)
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
        source.close()
        raise
    if still:  # still images keep the single-frame path: no neighbours to use
        # a warning, not a note: nothing asked for is done (the API's result.warnings was empty, audit 27)
        stages = single_frame_stages(stages, warn)
    pipe = Pipeline(source, stages, sink, batch=batch, device=device, warn=warn, threads=cfg.threads)
    for s in sinks:
        if isinstance(s, PreviewSink):
            s.on_quit = pipe.request_stop
            s.status = pipe.live_status if pipe.live else None
    return pipe


def _describe(encoder: Encoder, out: str, chroma: str = "") -> str:
    """``encoder libx264 (crf 18, preset medium) → out.mp4``; ``chroma``: the sink's note on a 4:2:2/4:4:4 output."""
    opts = ", ".join(
        x
        for x in (
            f"crf {encoder.crf}" if encoder.crf is not None else "",
            f"preset {encoder.preset}" if encoder.preset else "",
            chroma,
        )
        if x
    )
    return f"encoder {encoder.codec}{f' ({opts})' if opts else ''} → {out}"
