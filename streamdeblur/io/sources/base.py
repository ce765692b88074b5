"""What every source shares: the one-line :class:`SourceError`, decode counters, the newest-frame
hand-off of live sources, and :func:`open_video` (PyAV's open, with one-line errors).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import av

from ...errors import SourceError, one_line
from ..formats import IMAGE_EXTS, VIDEO_EXTS  # noqa: F401  (re-exported: sources name them from here)
from ..frames import Frame
from ..loglevel import SharedQuiet
from ..paths import is_url, open_input
from ..streams import video_stream

log = logging.getLogger("streamdeblur.io")

LIVE_SCHEMES = ("http", "https", "tcp", "udp", "rtsp", "rtmp", "srt")


class DecodeStats:
    """Counters a source keeps while reading."""

    def __init__(self) -> None:
        self.dropped = 0  #: live frames overwritten before use
        self.skipped_packets = 0  #: undecodable packets skipped (non-strict mode)
        self.damaged = 0  #: places where a file's demuxer skipped damaged data, or a packet came flagged corrupt
        self.skipped_images = 0  #: unreadable images of a folder skipped (non-strict mode)
        self.repaired_pts = 0  #: non-increasing timestamps moved forward
        self.reconnects = 0  #: reopen attempts after a disconnect
        self.lost = False  #: a live source that stayed gone after its last reopen attempt
        #: ``lost`` because the session ended (``--duration``, a signal) while it was gone, not because
        #: the attempts ran out: reconnections may have worked earlier in the session
        self.lost_at_end = False
        #: why it was lost, where that is known better than "no reconnection worked" (a snapshot URL)
        self.lost_why: str | None = None
        #: live sources: seconds the camera was gone (from its last frame before a loss to its first after;
        #: to the session's end if it never came back), left out of the rate the final line gives beside the average
        self.offline = 0.0


def _is_url(spec: str) -> bool:
    return is_url(spec)


# -- live hand-off ------------------------------------------------------------------------------


class LatestFrame:
    """One-slot hand-off: ``put`` replaces the held frame (counting a drop if it was never taken),
    ``get`` waits for a frame newer than the last one taken.

    The first ``get`` also waits for the grabber to catch up: when it starts, the frames the network
    buffered since the stream was opened (probing, model loading) are decoded in a burst, much faster
    than the camera's rate, and the first of them can be half a second old. The first frame handed
    out is the one after which no newer frame arrived for ``settle`` seconds (the burst is over), at
    most ``settle_max`` seconds after the first one.
    """

    def __init__(
        self, stats: DecodeStats, settle: float = 0.015, settle_max: float = 1.0, stop: threading.Event | None = None
    ) -> None:
        self._cond = threading.Condition()
        #: the source's stop: ``get`` gives up waiting once it is set (a stalled camera held Ctrl-C and
        #: ``--duration`` until OpenCV's read gave up, 30 s later)
        self._stop = stop
        self._frame: Frame | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._settled = False
        self.settle, self.settle_max = settle, settle_max
        self.stats = stats

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.stats.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed, self._error = True, error
            self._cond.notify_all()

    def get(self, timeout: float = 0.2) -> Frame | None:
        """The newest unseen frame; None at end of stream or once the source is stopped. Raises the grabber's error, if any."""
        with self._cond:
            while self._frame is None:
                if self._closed:
                    if self._error is not None:
                        raise self._error
                    return None
                if self._stop is not None and self._stop.is_set():
                    return None
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            if not self._settled:
                self._settled = True
                deadline = time.monotonic() + self.settle_max
                while not self._closed and time.monotonic() < deadline:
                    self._cond.wait(self.settle)
                    if self._frame is None:
                        break  # quiet for `settle`: caught up with the camera
                    frame, self._frame = self._frame, None  # still the backlog: skip to the newer one
                    self.stats.dropped += 1
            return frame


class _LiveMixin:
    """A grabber thread running ``self._grab(put)`` feeding a :class:`LatestFrame`."""

    stats: DecodeStats
    _stop: threading.Event
    _grabber: threading.Thread

    def _start_grabber(self, grab: Callable[[Callable[[Frame], None]], None]) -> LatestFrame:
        slot = LatestFrame(self.stats, stop=self._stop)

        def run() -> None:
            try:
                grab(slot.put)
                slot.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                slot.close(exc)

        self._grabber = threading.Thread(target=run, name="grabber", daemon=True)
        self._grabber.start()
        return slot

    def _drain(self, slot: LatestFrame) -> Iterator[Frame]:
        while not self._stop.is_set():
            frame = slot.get()
            if frame is None:
                return
            yield frame


def open_video(spec: str | Path, options: dict | None = None, timeout: float | None = None):
    """Open a container that has a video stream, or raise :class:`SourceError` with one line."""
    try:
        c = open_input(spec, options=options, timeout=timeout)
    except (av.error.FFmpegError, OSError) as exc:
        # FFmpeg's own words ("Invalid data found when processing input"), not its error tag as an errno nor the path again
        reason = getattr(exc, "strerror", None) or one_line(exc, 200)
        raise SourceError(f"cannot open {spec}: {reason}") from None
    if video_stream(c) is None:
        covers = bool(c.streams.video)  # a music file's album art, not footage
        c.close()
        raise SourceError(f"no video stream in {spec}" + (" (only a cover picture)" if covers else ""))
    return c


class _Cv2Log4:
    """OpenCV 4's log level: ``cv2.setLogLevel`` / ``getLogLevel`` (its wheels have no ``cv2.utils.logging``,
    and every photo and camera failed there with "module 'cv2.utils' has no attribute 'logging'")."""

    LOG_LEVEL_SILENT = 0

    def __init__(self, cv2) -> None:
        self.getLogLevel, self.setLogLevel = cv2.getLogLevel, cv2.setLogLevel


def _cv2_logging():
    import cv2  # imported when first needed: reading files needs PyAV only

    log = getattr(cv2.utils, "logging", None)
    return log if log is not None else _Cv2Log4(cv2)


_opencv_quiet = SharedQuiet(
    lambda: _cv2_logging().getLogLevel(),
    lambda level: _cv2_logging().setLogLevel(level),
    lambda: _cv2_logging().LOG_LEVEL_SILENT,
)


@contextmanager
def quiet_opencv():
    """OpenCV's own log lines off while inside (a camera that cannot be opened made each backend print
    a dozen lines of warnings; a stalled stream, "Stream timeout triggered"; a TIFF it cannot turn,
    "Internal imread issue"): our error says it. The level is process-wide (:class:`~..loglevel.SharedQuiet`)."""
    with _opencv_quiet():
        yield
