"""Sinks: video files (PyAV, audio kept), image folders and single image files, a preview window, and nothing.

Video files are written under a new temporary name next to the target (``name.3f9a0c.partial.mp4``) and
renamed when complete, so a finished file always means a finished run; an interrupted run still
closes the container properly (the partial file plays) and says where it is.

Timestamps: each output frame gets its source frame's ``pts`` in the source's ``time_base``; the
encoder's time base is set to that same value, so nothing is rounded to a frame grid and
variable-frame-rate input stays variable. Audio streams are copied packet for packet when the
output container accepts their codec (tried on a scratch container first), otherwise re-encoded
(AAC; Opus for WebM). Audio is interleaved as the video advances, and an interrupted run keeps
the audio up to its last video frame.

Example:
    >>> sink = VideoSink("out.mp4", source.info)           # doctest: +SKIP
    >>> for frame in frames: sink.write(frame)             # doctest: +SKIP
    >>> sink.close()                                        # doctest: +SKIP
"""

from __future__ import annotations

from ..audio import AUDIO_FALLBACK, AudioCopier
from .base import (
    FORMAT_BY_SUFFIX,
    OutputExistsError,
    SinkError,
    check_output,
    container_options,
    partial_path,
    partials_of,
    publish,
    temporary_path,
)
from .images import ImageFileSink, ImageSink
from .null import NullSink, TeeSink
from .preview import PreviewSink, display_problem
from .video import VideoSink

__all__ = [
    "AUDIO_FALLBACK",
    "FORMAT_BY_SUFFIX",
    "AudioCopier",
    "ImageFileSink",
    "ImageSink",
    "NullSink",
    "OutputExistsError",
    "PreviewSink",
    "SinkError",
    "TeeSink",
    "VideoSink",
    "check_output",
    "container_options",
    "display_problem",
    "partial_path",
    "partials_of",
    "publish",
    "temporary_path",
]
