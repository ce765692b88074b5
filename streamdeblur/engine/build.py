"""Build a runnable :class:`~streamdeblur.engine.pipeline.Pipeline` from a config, an input and an output.

This is the one place that wires sources, stages and sinks together; the CLI and the Python API
(:func:`streamdeblur.process`) both go through :func:`build`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..compute.runtime import choose_device, codec_threads, compute_policy, configure
from ..io.context import ContextRange
from ..io.sinks import ImageSink, NullSink, PreviewSink, SinkError, TeeSink, VideoSink, check_output, display_available
from ..io.sources import ImageSource, open_source
from ..stages import StageContext, create_stage, stage_class
from ..stages.window import WindowedStage
from .config import PipelineConfig
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
    context: tuple[int, int | None, int, int] | None = None


def _needs(cfg: PipelineConfig) -> list[frozenset[str]]:
    """For each stage, the side outputs later stages require from it."""
    provide = []
    for i, spec in enumerate(cfg.stages):
        later = set().union(*[stage_class(s.name).requires for s in cfg.stages[i + 1 :]]) if i + 1 < len(cfg.stages) else set()
        provide.append(frozenset(later & stage_class(spec.name).provides))
    return provide


def _compute(cfg: PipelineConfig) -> tuple[torch.device, int, bool]:
    """Device chosen and configured (threads), then the batch and bf16 policy for it."""
    device = choose_device(cfg.device)
    configure(device, cfg.threads)
    batch, bf16 = compute_policy(device, cfg.batch, cfg.bf16)
    return device, batch, bf16


def build_stages(cfg: PipelineConfig, warn: Callable[[str], None] = print) -> list:
    """The config's stages, built on the chosen device (models loaded); reusable across jobs."""
    device, _, bf16 = _compute(cfg)
    return _stages(cfg, device, bf16, warn)


def _stages(cfg: PipelineConfig, device, bf16: bool, warn: Callable[[str], None]) -> list:
    ctx = StageContext(device=device, warn=warn, bf16=bf16)
    return [create_stage(s.name, s.options, dataclasses.replace(ctx, provide=p)) for s, p in zip(cfg.stages, _needs(cfg))]


def build(job: Job, warn: Callable[[str], None] = print, stages: list | None = None) -> Pipeline:
    """Open the source, build the stages and the sink, return the pipeline (not started).

    ``stages``: already built stages for ``job.config`` (a worker that runs many jobs keeps one
    model instance); built here when None.
    """
    cfg = job.config
    out = job.output
    is_video_out = bool(out) and out != "-" and Path(out).suffix != "" and not out.endswith("/")
    if is_video_out:
        inputs = [Path(job.input)] if Path(str(job.input)).exists() else []
        check_output(Path(out), inputs, job.overwrite)
    if cfg.preview and not display_available():
        raise SinkError("no display for the preview window (DISPLAY is not set); drop --preview or run under a desktop/Xvfb")
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
    if job.context is not None:
        source = ContextRange(source, *job.context)
    try:
        if stages is None:
            stages = _stages(cfg, device, bf16, warn)
        info = output_info(source.info, stages)
        sinks = []
        if is_video_out:
            o = cfg.output
            sinks.append(
                VideoSink(
                    out,
                    info,
                    codec=o.codec,
                    crf=o.crf,
                    preset=o.preset,
                    audio=o.audio,
                    keep_partial=o.keep_partial,
                    warn=warn,
                    threads=threads,
                )
            )
        elif out and out != "-":
            sinks.append(ImageSink(out))
        if cfg.preview:
            sinks.append(PreviewSink())
        sink = sinks[0] if len(sinks) == 1 else TeeSink(*sinks) if sinks else NullSink()
    except BaseException:
        source.close()
        raise
    if isinstance(source, ImageSource):  # still images keep the single-frame path: no neighbours to use
        stages = [s for s in stages if not isinstance(s, WindowedStage)]
    pipe = Pipeline(source, stages, sink, batch=batch, device=device, warn=warn)
    for s in sinks:
        if isinstance(s, PreviewSink):
            s.on_quit = pipe.request_stop
    return pipe
