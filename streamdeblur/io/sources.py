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

import glob
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# OpenCV's bundled FFmpeg prints its own errors to stderr; we report failures ourselves, in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from .color import ColorInfo, describe_frame, describe_stream, frame_to_rgb
from .frames import Frame, SourceInfo
from .timestamps import BestEffortTimestamps

log = logging.getLogger("streamdeblur.io")

LIVE_SCHEMES = ("http", "https", "tcp", "udp", "rtsp", "rtmp", "srt")
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class SourceError(Exception):
    """A source cannot be opened or read; the message is one line for the user."""


class DecodeStats:
    """Counters a source keeps while reading."""

    def __init__(self) -> None:
        self.dropped = 0  #: live frames overwritten before use
        self.skipped_packets = 0  #: undecodable packets skipped (non-strict mode)
        self.repaired_pts = 0  #: non-increasing timestamps moved forward
        self.reconnects = 0


def _is_url(spec: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec))


# -- live hand-off ------------------------------------------------------------------------------


class LatestFrame:
    """One-slot hand-off: ``put`` replaces the held frame (counting a drop if it was never taken),
    ``get`` waits for a frame newer than the last one taken."""

    def __init__(self, stats: DecodeStats) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._error: BaseException | None = None
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
        """The newest unseen frame; None at end of stream. Raises the grabber's error, if any."""
        with self._cond:
            while self._frame is None:
                if self._closed:
                    if self._error is not None:
                        raise self._error
                    return None
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame


class _LiveMixin:
    """A grabber thread running ``self._grab(put)`` feeding a :class:`LatestFrame`."""

    stats: DecodeStats
    _stop: threading.Event

    def _start_grabber(self, grab: Callable[[Callable[[Frame], None]], None]) -> LatestFrame:
        slot = LatestFrame(self.stats)

        def run() -> None:
            try:
                grab(slot.put)
                slot.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                slot.close(exc)

        threading.Thread(target=run, name="grabber", daemon=True).start()
        return slot

    def _drain(self, slot: LatestFrame) -> Iterator[Frame]:
        while not self._stop.is_set():
            frame = slot.get()
            if frame is None:
                return
            yield frame


# -- PyAV: files and streams ----------------------------------------------------------------------


def open_video(spec: str | Path, options: dict | None = None, timeout: float | None = None):
    """Open a container that has a video stream, or raise :class:`SourceError` with one line."""
    try:
        c = av.open(str(spec), options=options, timeout=timeout, metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open {spec}: {_short(exc)}") from None
    if not c.streams.video:
        c.close()
        raise SourceError(f"no video stream in {spec}")
    return c


class VideoSource(_LiveMixin):
    """A video file or network stream read with PyAV (``thread_type="AUTO"``).

    Args:
        spec: file path or URL.
        strict: stop at the first undecodable packet instead of skipping it.
        live: newest-frame semantics; default: True for network URLs, False for files.
        reconnect: for live streams, how many times to reopen after a disconnect (with backoff).
        options: extra FFmpeg options for ``av.open`` (e.g. ``{"rw_timeout": "5000000"}``).
        threads: decoder threads; 0 lets FFmpeg choose (one per core).
    """

    def __init__(
        self,
        spec: str,
        strict: bool = False,
        live: bool | None = None,
        reconnect: int = 5,
        options: dict | None = None,
        on_warning: Callable[[str], None] | None = None,
        threads: int = 0,
    ) -> None:
        self.spec = spec
        self.threads = threads
        self.strict = strict
        self.is_url = _is_url(spec)
        self.live = live if live is not None else (self.is_url and spec.split(":", 1)[0].lower() in LIVE_SCHEMES)
        self.reconnect = reconnect
        self.options = dict(options or {})
        if self.is_url:
            self.options.setdefault("rw_timeout", "10000000")
        self.stats = DecodeStats()
        self._stop = threading.Event()
        self.warn = on_warning or (lambda m: log.warning(m))
        if not self.is_url:
            p = Path(spec)
            if not p.exists():
                raise SourceError(f"input not found: {spec}")
            if p.is_dir():
                raise SourceError(f"input is a directory: {spec} (use a glob or 'batch' for folders)")
            if p.stat().st_size == 0:
                raise SourceError(f"input is empty (0 bytes): {spec}")
        self._container = self._open()
        self.info = self._describe()

    def _open(self):
        return open_video(self.spec, options=self.options, timeout=10.0 if self.is_url else None)

    def _describe(self) -> SourceInfo:
        c = self._container
        vs = c.streams.video[0]
        cc = vs.codec_context
        if cc is None or not cc.name:
            raise SourceError(f"unsupported video codec in {self.spec}: no decoder for it")
        if cc.width <= 0 or cc.height <= 0:
            raise SourceError(f"cannot read the video size of {self.spec} (corrupt or unsupported stream)")
        color = describe_stream(cc.height, cc.pix_fmt, cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc)
        duration = None
        if vs.duration is not None and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif c.duration:
            duration = c.duration / av.time_base
        fps = vs.average_rate or vs.guessed_rate
        frames = vs.frames or (round(duration * float(fps)) if duration and fps else None)
        return SourceInfo(
            name=Path(self.spec).name if not self.is_url else self.spec,
            width=cc.width,
            height=cc.height,
            fps=Fraction(fps) if fps else None,
            time_base=vs.time_base,
            color=color,
            live=self.live,
            frames=None if self.live else frames,
            duration=None if self.live else duration,
            path=None if self.is_url else Path(self.spec),
            has_audio=bool(c.streams.audio) and not self.is_url,
            codec=cc.name,
        )

    def close(self) -> None:
        self._stop.set()
        try:
            self._container.close()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        if self.live:
            yield from self._drain(self._start_grabber(self._grab_live))
        else:
            yield from self._decode(self._container, 0)

    def _decode(self, container, start_index: int) -> Iterator[Frame]:
        """Decode every frame, flush packet included (the decoder's last frames come out of it)."""
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        if self.threads:
            vs.codec_context.thread_count = self.threads
        index = start_index
        color: ColorInfo | None = None
        last_pts: int | None = None
        # presentation times: FFmpeg's best-effort rule with one frame of hindsight on files (packed
        # B-frames in AVI give out-of-order pts), none on live streams (no added latency)
        clock = BestEffortTimestamps(lookahead=0 if self.live else 1)
        held: deque = deque()

        def emit(vf, pts: int | None) -> Frame:
            nonlocal color, last_pts, index
            if color is None:  # one description per source: the first frame's tags, else the stream's
                color = describe_frame(vf)
                if not color.tagged and self.info.color.tagged:
                    color = replace(self.info.color, bit_depth=color.bit_depth)
            if pts is None and last_pts is not None and self.info.fps:
                pts = last_pts + round(1 / (self.info.fps * vs.time_base))  # container gave none
            if pts is not None and last_pts is not None and pts <= last_pts:
                # corrupt timestamps: nudge just past the previous one (muxers need them increasing)
                self.stats.repaired_pts += 1
                if self.stats.repaired_pts == 1:
                    self.warn(f"{self.spec}: non-increasing timestamps repaired (corrupt input)")
                pts = last_pts + 1
            last_pts = pts
            frame = Frame(
                frame_to_rgb(vf, color),
                index,
                pts,
                vf.time_base or vs.time_base,
                color,
                self.info.name,
                time.monotonic() if self.live else 0.0,
            )
            index += 1
            return frame

        packets = container.demux(vs)
        while not self._stop.is_set():
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.EOFError:
                break
            except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                if self.strict:
                    raise SourceError(f"corrupt data in {self.spec}: {_short(exc)} (--strict)") from None
                self.stats.skipped_packets += 1
                if self.stats.skipped_packets <= 3:
                    self.warn(f"skipped unreadable data in {self.spec}: {_short(exc)}")
                if self.stats.skipped_packets > 1000:
                    raise SourceError(f"too much corrupt data in {self.spec}; giving up") from None
                continue
            try:
                decoded = packet.decode()
            except (av.error.InvalidDataError, av.error.FFmpegError, ValueError) as exc:
                if self.strict:
                    raise SourceError(
                        f"undecodable packet in {self.spec} at pts {packet.pts}: {_short(exc)} (--strict)"
                    ) from None
                self.stats.skipped_packets += 1
                if self.stats.skipped_packets <= 3:
                    self.warn(f"skipped an undecodable packet in {self.spec} (pts {packet.pts}): {_short(exc)}")
                continue
            for vf in decoded:
                held.append(vf)
                for pts in clock.push(vf.pts, getattr(vf, "dts", None)):
                    yield emit(held.popleft(), pts)
        for pts in clock.flush():  # the frames held back for hindsight
            yield emit(held.popleft(), pts)
        if index == start_index and not self.live and not self._stop.is_set():
            raise SourceError(f"nothing decodable in {self.spec} ({self.stats.skipped_packets} corrupt packets skipped)")

    def _grab_live(self, put: Callable[[Frame], None]) -> None:
        attempts, index, container = 0, 0, self._container
        while not self._stop.is_set():
            try:
                for frame in self._decode(container, index):
                    put(frame)
                    index = frame.index + 1
                    attempts = 0
            except SourceError:
                raise
            except (av.error.FFmpegError, OSError) as exc:
                self.warn(f"stream error: {_short(exc)}")
            if self._stop.is_set():
                return
            attempts += 1
            if attempts > self.reconnect:
                self.warn(f"stream {self.spec} ended; no reconnection after {self.reconnect} attempts")
                return
            delay = min(8.0, 0.5 * 2 ** (attempts - 1))
            self.warn(f"stream {self.spec} disconnected; reconnecting in {delay:.1f}s ({attempts}/{self.reconnect})")
            self.stats.reconnects += 1
            if self._stop.wait(delay):
                return
            try:
                container = av.open(self.spec, options=self.options, timeout=10.0, metadata_errors="replace")
            except (av.error.FFmpegError, OSError) as exc:
                self.warn(f"reconnect failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]


# -- OpenCV cameras ------------------------------------------------------------------------------


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


# -- image folders -------------------------------------------------------------------------------


class ImageSource:
    """Images from a folder, a glob or one file, in name order; pts = index at ``fps``."""

    live = False

    def __init__(self, spec: str, fps: float = 25.0) -> None:
        p = Path(spec)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        elif any(ch in spec for ch in "*?["):
            files = sorted(Path(f) for f in glob.glob(spec) if Path(f).suffix.lower() in IMAGE_EXTS)
        else:
            files = [p]
        if not files:
            raise SourceError(f"no images found in {spec}")
        self.files = files
        self.stats = DecodeStats()
        self._stop = threading.Event()
        first = self._read(files[0])
        h, w = first.shape[:2]
        rate = Fraction(fps).limit_denominator(1001)
        self.info = SourceInfo(
            name=p.name or spec,
            width=w,
            height=h,
            fps=rate,
            time_base=1 / rate,
            color=ColorInfo(
                "bt709" if h >= 720 else "bt601", "tv", "bt709", "iec61966-2-1", 16 if first.dtype == np.uint16 else 8, False
            ),
            frames=len(files),
            duration=len(files) / float(rate),
        )

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise SourceError(f"cannot read image {path}")
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = img[..., :3]
        return np.ascontiguousarray(img[..., ::-1])

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        for i, f in enumerate(self.files):
            if self._stop.is_set():
                return
            img = self._read(f)
            if img.shape[:2] != (self.info.height, self.info.width):
                raise SourceError(
                    f"{f} is {img.shape[1]}x{img.shape[0]}, the first image was {self.info.width}x{self.info.height}"
                )
            yield Frame(img, i, i, self.info.time_base, self.info.color, f.name)


Source = VideoSource | CameraSource | ImageSource


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
        strict: stop at the first undecodable packet.
        live: force live (newest-frame) or file semantics for URLs.
        fps: frame rate given to image sequences.
        reconnect: live sources: reopen attempts after a disconnect (backoff 0.5, 1, 2, … 8 s).
        codec_threads: decoder threads for video files and streams (0: FFmpeg's choice).
    """
    s = str(spec)
    if camera or s.isdigit() or s.startswith("/dev/video"):
        return CameraSource(s, reconnect=reconnect, on_warning=on_warning)
    if not _is_url(s):
        p = Path(s)
        if p.is_dir() or any(ch in s for ch in "*?[") or p.suffix.lower() in IMAGE_EXTS:
            return ImageSource(s, fps)
    return VideoSource(s, strict=strict, live=live, reconnect=reconnect, on_warning=on_warning, threads=codec_threads)
