"""A small Python API for scripts.

Example:
    >>> import streamdeblur
    >>> result = streamdeblur.process("shaky.mp4", "sharp.mp4")                 # doctest: +SKIP
    >>> result = streamdeblur.process("in.mp4", "cmp.mp4", pipeline="compare",   # doctest: +SKIP
    ...                               overrides={"tile": 256, "crf": 20})
    >>> result.progress.done, result.output                                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .engine.build import Job, build
from .engine.config import PipelineConfig, apply_overrides, load_pipeline
from .engine.pipeline import Progress, RunResult


def process(
    input: str | Path,
    output: str | Path | None,
    pipeline: str | PipelineConfig = "motion",
    overrides: dict | None = None,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """Run a pipeline over one input and return what happened.

    Args:
        input: video file, stream URL, image folder or glob.
        output: video file or image folder (None: run without writing, e.g. to benchmark).
        pipeline: shipped pipeline name, YAML path, or a :class:`PipelineConfig`.
        overrides: the CLI's flags by name (``model``, ``weights``, ``tile``, ``batch``, ``crf`` …).
        overwrite: replace an existing output.
        on_progress: called with a :class:`Progress` a few times per second.
        warn: receives warnings (default: ignored).

    Raises:
        the same one-line errors the CLI reports (``SourceError``, ``SinkError``, ``ConfigError`` …);
        errors during processing are returned in ``RunResult.error`` instead.
    """
    cfg = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(str(pipeline))
    cfg = apply_overrides(cfg, **(overrides or {}))
    pipe = build(
        Job(str(input), None if output is None else str(output), cfg, overwrite=overwrite), warn=warn or (lambda m: None)
    )
    return pipe.run(on_progress)
