"""Webcams and camera streams read with OpenCV, newest frame only."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np

# OpenCV's bundled FFmpeg prints its own errors to stderr; we report failures ourselves, in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from .base import DecodeStats, SourceError, _is_url, _LiveMixin, log


class CameraSource(_LiveMixin):
    """A webcam (index, ``/dev/videoN``) or a stream URL read with OpenCV, newest frame only.

    Timestamps are capture times (microseconds since the first frame), so a recording plays at the
    speed things happened even when frames were dropped.
    """

    live = True

    def __init__(self, spec: str | int, reconnect: int = 5, on_warning: Callable[[str], None] | None = None) -> None:
        self.spec = int(spec) if isinstance(spec, str) and spec.isdigit() else spec
        self.reconnect = reconnect
        self.stats = DecodeStats()
        self._stop = threading.Event()
        self.warn = on_warning or (lambda m: log.warning(m))
        self._cap = self._open()
        ok, first = self._cap.read()
        if not ok:
            raise SourceError(f"camera {self.spec} opened but delivered no frame")
        self._first = first
        h, w = first.shape[:2]
        fps = self._cap.get(cv2.CAP_PROP_FPS) or 0
        color = ColorInfo(
            "bt709" if h >= 720 else "bt601",
            "tv",
            "bt709" if h >= 720 else "smpte170m",
            "bt709" if h >= 720 else "smpte170m",
            8,
            False,
        )
        self.info = SourceInfo(
            name=f"camera {self.spec}",
            width=w,
            height=h,
            fps=Fraction(fps).limit_denominator(1001) if 0 < fps < 500 else None,
            time_base=Fraction(1, 1_000_000),
            color=color,
            live=True,
        )

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.spec, str) and not _is_url(self.spec) and not os.path.exists(self.spec):
            raise SourceError(f"camera not found: {self.spec}")
        cap = cv2.VideoCapture(self.spec)
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {self.spec}")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._cap.release()

    def frames(self) -> Iterator[Frame]:
        yield from self._drain(self._start_grabber(self._grab))

    def _grab(self, put: Callable[[Frame], None]) -> None:
        t0 = time.monotonic()
        index, attempts, pending = 0, 0, self._first
        while not self._stop.is_set():
            if pending is None:
                ok, bgr = self._cap.read()
                if not ok:
                    attempts += 1
                    if attempts > self.reconnect:
                        self.warn(f"camera {self.spec} lost; no reconnection after {self.reconnect} attempts")
                        return
                    delay = min(8.0, 0.5 * 2 ** (attempts - 1))
                    self.warn(f"camera {self.spec} lost; reconnecting in {delay:.1f}s ({attempts}/{self.reconnect})")
                    self.stats.reconnects += 1
                    if self._stop.wait(delay):
                        return
                    self._cap.release()
                    self._cap = cv2.VideoCapture(self.spec)
                    continue
            else:
                bgr, pending = pending, None
            attempts = 0
            now = time.monotonic()
            put(
                Frame(
                    np.ascontiguousarray(bgr[..., ::-1]),
                    index,
                    round((now - t0) * 1_000_000),
                    Fraction(1, 1_000_000),
                    self.info.color,
                    self.info.name,
                    now,
                )
            )
            index += 1
