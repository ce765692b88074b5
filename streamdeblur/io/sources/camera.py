"""Webcams and camera streams read with OpenCV, newest frame only."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction

import numpy as np

# OpenCV's bundled FFmpeg prints its own errors to stderr; we report failures ourselves, in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from .base import DecodeStats, SourceError, _is_url, _LiveMixin, log, quiet_opencv


class CameraSource(_LiveMixin):
    """A webcam (index, ``/dev/videoN``) or a stream URL read with OpenCV, newest frame only.

    Timestamps are capture times (microseconds since the first delivered frame), so a recording
    plays at the speed things happened even when frames were dropped.

    The grabber thread starts as soon as the camera is open, not when the consumer asks for the
    first frame. Between the two the model loads (seconds); had nobody been reading, the driver or
    the stream's socket would have kept the frames of that pause, and each would be stamped with the
    time it was finally read, not the time it was captured (measured before this: the first
    recorded gap was 1.6 s where 2.0 s had passed). Reading all along keeps only the newest frame,
    so the first delivered frame is a fresh one; the frames replaced before the consumer started
    are not counted as drops.
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
        self._t0 = time.monotonic()
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
        self._slot = self._start_grabber(self._grab)

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.spec, str) and not _is_url(self.spec) and not os.path.exists(self.spec):
            raise SourceError(f"camera not found: {self.spec}")
        if isinstance(self.spec, int) and os.path.isdir("/dev") and sys.platform.startswith("linux"):
            if not os.path.exists(f"/dev/video{self.spec}"):
                raise SourceError(f"camera not found: {self.spec} (there is no /dev/video{self.spec})")
        cap = _capture(self.spec)
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {self.spec}")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the grabber; it releases the camera itself once its current read returns.

        Releasing the capture from here while the grabber is inside ``read()`` crashes OpenCV's
        FFmpeg backend, so the grabber owns the capture until it ends.
        """
        self._stop.set()
        self._grabber.join(timeout=2.0)

    def frames(self) -> Iterator[Frame]:
        """The newest frame each time one is asked for; pts and index count from the first one delivered."""
        self.stats.dropped = 0  # frames replaced before anyone asked were not dropped by the pipeline
        first: Frame | None = None
        for f in self._drain(self._slot):
            first = first or f
            yield replace(f, index=f.index - first.index, pts=f.pts - first.pts)

    def _grab(self, put: Callable[[Frame], None]) -> None:
        try:
            self._grab_frames(put)
        finally:
            self._cap.release()

    def _grab_frames(self, put: Callable[[Frame], None]) -> None:
        t0 = self._t0
        index, attempts, pending = 0, 0, self._first
        while not self._stop.is_set():
            if pending is None:
                ok, bgr = self._cap.read()
                if not ok:
                    attempts += 1
                    if attempts > self.reconnect:
                        self.warn(f"camera {self.spec} lost; no reconnection after {self.reconnect} attempts")
                        self.stats.lost = True
                        return
                    delay = min(8.0, 0.5 * 2 ** (attempts - 1))
                    self.warn(f"camera {self.spec} lost; reconnecting in {delay:.1f}s ({attempts}/{self.reconnect})")
                    self.stats.reconnects += 1
                    if self._stop.wait(delay):
                        # the session ended (``--duration``) with the camera still gone: a recording cut
                        # short, as when the attempts run out (exit 3), not a finished one (it exited 0)
                        self.warn(f"camera {self.spec} still lost when the session ended")
                        self.stats.lost = True
                        return
                    self._cap.release()
                    self._cap = _capture(self.spec)
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


def _capture(spec: str | int) -> cv2.VideoCapture:
    """``cv2.VideoCapture(spec)`` without OpenCV's own log lines: a camera that cannot be opened
    made each backend it tried (V4L2, FFmpeg, Orbbec) print warnings before our one-line error."""
    with quiet_opencv():
        return cv2.VideoCapture(spec)
