"""A small Python API for scripts: files in and out (:func:`process`), or NumPy images a script
holds itself (:class:`Deblurrer`).

Example:
    >>> import streamdeblur
    >>> result = streamdeblur.process("shaky.mp4", "sharp.mp4")                 # doctest: +SKIP
    >>> result = streamdeblur.process("in.mp4", "cmp.mp4", pipeline="compare",   # doctest: +SKIP
    ...                               overrides={"tile": 256, "crf": 20})
    >>> result.progress.done, result.output                                      # doctest: +SKIP
    >>> deblur = streamdeblur.Deblurrer("motion")          # the model loads once  # doctest: +SKIP
    >>> for sharp in deblur.frames(my_frames, fps=30): ...                     # doctest: +SKIP
    >>> sharp = deblur.image(photo)                                            # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .engine.build import Job, build, prepare, single_frame_stages
from .engine.config import ConfigError, PipelineConfig, apply_overrides, load_pipeline
from .engine.limits import check_value
from .engine.pipeline import Progress, RunResult
from .errors import ProcessingError
from .io.sinks import OutputExistsError
from .io.sinks.arrays import ArraySink
from .io.sources.arrays import ArraySource


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
        on_progress: called with a :class:`Progress` a few times per second (from another thread).
            An exception it raises **stops the run**, as Ctrl-C does, and is raised by ``process``
            once the output is closed: the way to cancel a run from a progress hook or a GUI.
        warn: also receives each warning as it happens (they are all in ``RunResult.warnings``).

    Returns:
        A :class:`RunResult`: frames done, output path, error, and the warnings of the run.

    Raises:
        the same one-line errors the CLI reports (``SourceError``, ``SinkError``, ``ConfigError`` …),
        in this API's words (``overwrite=True``), for what is found while the run is set up: the
        input, the output and its encoders (a sound the output's container needs re-encoded and the
        encoder refuses, too), the config. Errors once frames flow are returned in ``RunResult.error``.
        TypeError: ``input`` or ``output`` is not a ``str`` or ``os.PathLike`` path.
        KeyboardInterrupt: Ctrl-C (SIGINT) during the run, called from the main thread: the batch in
            flight is finished and written first, and a file's output is kept under its temporary name
            (``NAME.<id>.partial.mp4``, playable up to where it stopped). SIGTERM likewise reaches the
            program's own handler (or ends the process) once the output is closed.
    """
    for what, path in (("input", input), ("output", output)):
        if not (isinstance(path, (str, os.PathLike)) or (what == "output" and path is None)) or isinstance(path, bytes):
            raise TypeError(f"{what} must be a str or os.PathLike path, got {type(path).__name__}")
    warnings: list[str] = []

    def collect(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    cfg = _config(pipeline, overrides)
    job = Job(str(input), None if output is None else str(output), cfg, overwrite=overwrite)
    try:
        pipe = build(job, warn=collect)
    except OutputExistsError as exc:
        raise OutputExistsError(exc.path, hint="overwrite=True") from None
    raised: list[BaseException] = []  # the first exception on_progress raised: the run is cancelled

    def hook(p: Progress) -> None:
        if raised:
            return
        try:
            on_progress(p)
        except BaseException as exc:  # noqa: BLE001 - the caller's own, raised again below
            raised.append(exc)
            pipe.cancel()

    result = pipe.run(hook if on_progress is not None else None)
    result.warnings = warnings
    if raised:
        raise raised[0]
    if pipe.signal_received is not None and threading.current_thread() is threading.main_thread():
        # the graceful stop is done and the pipeline's handlers are gone: the signal goes on to the
        # program's own (Python's SIGINT raises KeyboardInterrupt here; it was swallowed, and a batch loop
        # went on to the next file with `error` None)
        signal.raise_signal(pipe.signal_received)
    return result


def _config(pipeline: str | PipelineConfig, overrides: dict | None) -> PipelineConfig:
    cfg = copy.deepcopy(pipeline) if isinstance(pipeline, PipelineConfig) else load_pipeline(str(pipeline))
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"overrides must be a dict of pipeline keys, got {type(overrides).__name__}")
    return apply_overrides(cfg, **(overrides or {}))


class Deblurrer:
    """A pipeline's stages, built once, for NumPy images a script holds itself.

    The model loads when the object is made; each :meth:`frames` or :meth:`image` call reuses it. The
    frames of a video go through the same stages, windows and order as ``streamdeblur run`` gives a
    video file (temporal fusion sees each frame's neighbours); a single image takes the single-frame
    path, as photographs do. One run at a time: the stages keep a video's window of frames, so a
    second :meth:`frames` (or :meth:`image`) while an earlier :meth:`frames` iterator is still open
    raises ``RuntimeError`` (finish or ``close()`` that iterator, or make a second ``Deblurrer``; two
    ``Deblurrer`` objects may run in two threads at once).

    Args:
        pipeline: shipped pipeline name, YAML path, or a :class:`PipelineConfig`.
        overrides: pipeline keys by name, checked as in :func:`process` (``ConfigError``).
        warn: receives the runs' warnings, one line each (default: dropped).

    Example:
        >>> deblur = Deblurrer("motion")                                          # doctest: +SKIP
        >>> cap = cv2.VideoCapture("shaky.mp4")                                   # doctest: +SKIP
        >>> def read():                                                           # doctest: +SKIP
        ...     ok, bgr = cap.read()
        ...     while ok:
        ...         yield bgr
        ...         ok, bgr = cap.read()
        >>> for sharp in deblur.frames(read(), fps=cap.get(cv2.CAP_PROP_FPS), bgr=True):  # doctest: +SKIP
        ...     cv2.imshow("sharp", sharp)
    """

    def __init__(
        self,
        pipeline: str | PipelineConfig = "motion",
        overrides: dict | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.config = _config(pipeline, overrides)
        self.warn = warn or (lambda m: None)
        self._prepared = prepare(self.config, warn=self.warn)
        self._running = threading.Lock()

    def frames(self, images: Iterable[np.ndarray], fps: float = 30.0, bgr: bool = False) -> Iterator[np.ndarray]:
        """Deblur the frames of one video, in order.

        Args:
            images: ``H×W×3`` uint8 or uint16 arrays, one per frame, in display order (a list, an
                ``N×H×W×3`` array, or a generator: it is read as the pipeline needs frames, on another
                thread, so memory stays bounded).
            fps: the video's frame rate, 0.001…1000 (any real number: ``30``, ``np.float32(25)``,
                ``Fraction(30000, 1001)``).
            bgr: the arrays are BGR (OpenCV's order); the results are BGR too.

        Returns:
            An iterator of arrays of the same size and type, one per input frame, in order. A frame
            comes out once the frames after it that its window needs have gone in (``radius`` of the
            temporal stages); the last ones when ``images`` ends. Leaving the loop early stops the work.

        Raises:
            ValueError: a frame that is not ``H×W×3`` uint8/uint16 (the first one: at once),
                ``images`` holds no frame at all ("no frames given": a video has at least one), or ``fps``
                is not a number in its range.
            ProcessingError: a stage failed (or the error ``images`` raised).
        """
        if not isinstance(fps, bool) and isinstance(fps, numbers.Real) and math.isfinite(float(fps)):
            check_value("fps", float(fps))  # the command line's range: 1e-9 ended in a bare "Fraction(1, 0)"
        return self._run(ArraySource(images, fps=fps, bgr=bgr), bgr, still=False)

    def image(self, image: np.ndarray, bgr: bool = False) -> np.ndarray:
        """Deblur one photograph (the single-frame path: stages that need neighbours are skipped).

        Args:
            image: ``H×W×3`` uint8 or uint16 array.
            bgr: BGR order in and out.

        Returns:
            The deblurred image, same size and type.
        """
        out = list(self._run(ArraySource([image], bgr=bgr, name="image"), bgr, still=True))
        return out[0]

    def _run(self, source: ArraySource, bgr: bool, still: bool) -> Iterator[np.ndarray]:
        from .engine.pipeline import Pipeline

        stages = self._prepared.stages
        if still:
            stages = single_frame_stages(stages, self.warn, pipeline='Deblurrer("motion")')
        sink = ArraySink(bgr=bgr)
        p = self._prepared
        pipe = Pipeline(source, list(stages), sink, batch=p.batch, device=p.device, warn=self.warn, threads=p.threads)
        box: dict = {}
        worker = threading.Thread(target=lambda: box.setdefault("result", pipe.run()), name="streamdeblur-api", daemon=True)
        return self._deliver(pipe, sink, worker, box)

    def _deliver(self, pipe, sink: ArraySink, worker: threading.Thread, box: dict) -> Iterator[np.ndarray]:
        # checked when the first frame is asked for (the iterator is lazy): two runs on the same stages
        # at once would mix their frames in one window (fused with the other clip's neighbours)
        if not self._running.acquire(blocking=False):
            raise RuntimeError(
                "this Deblurrer is already running a video (an unfinished frames() iterator): "
                "finish or close() it first, or use a second Deblurrer"
            )
        try:
            worker.start()
            try:
                yield from sink.images(worker.is_alive)
            finally:  # normal end, an error, or the caller left the loop: stop and wait for the stages
                sink.abandon()
                pipe.request_stop()
                worker.join()
        finally:
            self._running.release()
        result = box.get("result")
        if result is None:
            raise ProcessingError("the pipeline stopped without a result")
        if result.error:
            exc = result.exception
            if isinstance(exc, ValueError):  # a frame of the wrong shape or type: the caller's own error
                raise ValueError(str(exc)) from None
            raise ProcessingError(result.error) from exc
