"""Sources: video files and network streams (PyAV), cameras (OpenCV), image folders.

Every source has ``info`` (a :class:`~streamdeblur.io.frames.SourceInfo`) and ``frames()``, an
iterator of :class:`~streamdeblur.io.frames.Frame`. Two behaviours, decided by the source:

* **file** (``live = False``): every frame is delivered, in order; a slow consumer simply makes
  the reader wait (back-pressure). Nothing is ever dropped.
* **live** (``live = True``: cameras, and ``http``/``tcp``/``udp``/``rtsp``/``rtmp`` streams): a
  grabber thread reads continuously and keeps only the newest frame; ``frames()`` hands out the
  newest one each time it is asked, and frames that were overwritten before anyone took them are
  counted in ``dropped``. A consumer therefore never sees stale frames piling up.

Example:
    >>> src = open_source("clip.mp4")                        # doctest: +SKIP
    >>> for frame in src.frames(): ...                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..paths import is_glob
from .base import IMAGE_EXTS, LIVE_SCHEMES, VIDEO_EXTS, DecodeStats, LatestFrame, SourceError, _is_url, open_video
from .camera import CameraSource
from .images import ImageSource
from .video import VideoSource, clock_origin, declared_end, nominal_rate

__all__ = [
    "IMAGE_EXTS",
    "LIVE_SCHEMES",
    "CameraSource",
    "DecodeStats",
    "ImageSource",
    "LatestFrame",
    "Source",
    "SourceError",
    "VIDEO_EXTS",
    "VideoSource",
    "clock_origin",
    "declared_end",
    "nominal_rate",
    "open_source",
    "open_video",
    "reads_as_images",
]

Source = VideoSource | CameraSource | ImageSource
#: live stream formats that carry no timestamps: FFmpeg's multipart JPEG (MJPEG over HTTP) and raw MJPEG
TIMELESS_LIVE_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe"})


def reads_as_images(spec: str) -> bool:
    """Whether :func:`open_source` reads ``spec`` as photos: a folder, a glob or an image file (not a URL)."""
    if _is_url(spec):
        return False
    p = Path(spec)
    return p.is_dir() or is_glob(spec) or p.suffix.lower() in IMAGE_EXTS


def open_source(
    spec: str | int,
    *,
    camera: bool = False,
    strict: bool = False,
    live: bool | None = None,
    fps: float = 25.0,
    reconnect: int = 5,
    on_warning: Callable[[str], None] | None = None,
    codec_threads: int = 0,
) -> Source:
    """Open the right source for ``spec``.

    Args:
        spec: file, URL, image folder or glob, camera index or ``/dev/videoN``.
        camera: read URLs and indices through OpenCV's camera path (``webcam`` command).
        strict: stop at the first undecodable packet (or unreadable image of a folder).
        live: force live (newest-frame) or file semantics for URLs.
        fps: frame rate given to image sequences.
        reconnect: live sources: reopen attempts after a disconnect (backoff 0.5, 1, 2, … 8 s).
        codec_threads: decoder threads for video files and streams (0: FFmpeg's choice).
    """
    s = str(spec)
    if camera or s.isdigit() or s.startswith("/dev/video"):
        return CameraSource(s, reconnect=reconnect, on_warning=on_warning, strict=strict)
    if reads_as_images(s):
        return ImageSource(s, fps, on_warning=on_warning, strict=strict)
    src = VideoSource(s, strict=strict, live=live, reconnect=reconnect, on_warning=on_warning, threads=codec_threads)
    if src.live and src.container_format in TIMELESS_LIVE_FORMATS:
        # a camera's MJPEG over HTTP or TCP: the stream has no times (FFmpeg numbers the frames at 25 fps: a 30 fps
        # camera's recording played 20 % slow) and a JPEG cut short in transit decodes with another frame's rows.
        # Read as `webcam` reads it: capture times, the camera's rate as measured, damaged frames skipped and counted
        src.close()
        return CameraSource(s, reconnect=reconnect, on_warning=on_warning, strict=strict)
    return src
