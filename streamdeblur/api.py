"""A small Python API for scripts.

Example:
    >>> import streamdeblur
    >>> result = streamdeblur.process("shaky.mp4", "sharp.mp4")                 # doctest: +SKIP
    >>> result = streamdeblur.process("in.mp4", "cmp.mp4", pipeline="compare",   # doctest: +SKIP
    ...                               overrides={"tile": 256, "crf": 20})
    >>> result.progress.done, result.output                                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from .engine.build import Job, build
from .engine.config import ConfigError, PipelineConfig, apply_overrides, load_pipeline
from .engine.pipeline import Progress, RunResult
from .io.sinks import OutputExistsError


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
        pipeline: shipped pipeline name, YAML path, or a :class:`PipelineConfig` (not changed).
        overrides: pipeline keys by name (``model``, ``weights``, ``tile``, ``batch``, ``crf``,
            ``codec`` …; :data:`~streamdeblur.engine.config.OVERRIDES`), checked like the YAML file:
            an unknown name or a value out of range raises ``ConfigError``.
        overwrite: replace an existing output.
        on_progress: called with a :class:`Progress` a few times per second.
        warn: also receives each warning as it happens (they are all in ``RunResult.warnings``).

    Returns:
        A :class:`RunResult`: frames done, output path, error, and the warnings of the run.

    Raises:
        the same one-line errors the CLI reports (``SourceError``, ``SinkError``, ``ConfigError`` …),
        in this API's words (``overwrite=True``); errors during processing are returned in
        ``RunResult.error`` instead.
    """
    warnings: list[str] = []

    def collect(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    cfg = copy.deepcopy(pipeline) if isinstance(pipeline, PipelineConfig) else load_pipeline(str(pipeline))
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"overrides must be a dict of pipeline keys, got {type(overrides).__name__}")
    cfg = apply_overrides(cfg, **(overrides or {}))
    job = Job(str(input), None if output is None else str(output), cfg, overwrite=overwrite)
    try:
        pipe = build(job, warn=collect)
    except OutputExistsError as exc:
        raise OutputExistsError(exc.path, hint="overwrite=True") from None
    result = pipe.run(on_progress)
    result.warnings = warnings
    return result
