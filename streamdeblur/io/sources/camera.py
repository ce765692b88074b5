"""Webcams and camera streams read with OpenCV, newest frame only."""

from __future__ import annotations

import http.client
import os
import socket
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction

import cv2
import numpy as np

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from ..photo_meta import jpeg_state
from .base import LIVE_SCHEMES, DecodeStats, SourceError, _is_url, _LiveMixin, log, quiet_opencv

#: A stream URL that has not answered within this many seconds cannot be opened (OpenCV's default: 30 s,
#: during which Ctrl-C, SIGTERM and ``--duration`` went unheard).
OPEN_TIMEOUT_S = 10.0
#: A stream that delivers no frame for this long has stalled (connection open, nothing coming): it is
#: reopened like a lost one. Slower than any camera's frame interval worth recording.
READ_TIMEOUT_S = 5.0
#: consecutive frames after a reopen that make a camera back (until then it is still lost)
RECOVERED_AFTER = 3


#: the latest arrivals kept to measure a camera's rate (:meth:`CameraSource.rate_seen`): a second at 240 fps
RATE_FRAMES = 240
#: the span over which frames are counted to measure the rate, s (fewer than 4 frames in it: not measured)
RATE_SPAN_S = 1.0
#: a camera's first frames may come at once (a server's buffer, OpenCV's probing): those that arrive within
#: this long of the first are left out of its rate, s
BURST_S = 0.3
#: frame rates cameras run at: a measured rate within 3 % of one is taken as it
COMMON_RATES = tuple(Fraction(r) for r in (5, 10, 12, 15, 20, 24, 25, 30, 50, 60, 90, 120)) + tuple(
    Fraction(r * 1000, 1001) for r in (24, 30, 60)
)


def nice_rate(fps: float) -> Fraction:
    """A measured frame rate as a camera's: the nearest common rate within 3 %, else to 1/100 fps.

    Example:
        >>> nice_rate(30.2), nice_rate(29.97), nice_rate(7.3)
        (Fraction(30, 1), Fraction(30000, 1001), Fraction(73, 10))
    """
    best = min(COMMON_RATES, key=lambda r: abs(float(r) - fps))
    return best if abs(float(best) - fps) <= 0.03 * fps else Fraction(round(fps * 100), 100)


#: what the warning says of a corrupt MJPEG frame, by :func:`~..photo_meta.jpeg_state` (complete: "its data do
#: not decode"): only data that stop before the picture's end were cut short in transit
CORRUPT_JPEG = {"truncated": "cut short in transit", "malformed": "not a well-formed JPEG"}


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

    def __init__(
        self, spec: str | int, reconnect: int = 5, on_warning: Callable[[str], None] | None = None, strict: bool = False
    ) -> None:
        self.spec = int(spec) if isinstance(spec, str) and spec.isdigit() else spec
        self.reconnect = reconnect
        self.strict = strict  #: stop at the first corrupt frame (else skipped and counted)
        self._jpeg = False  #: the capture hands over each frame's JPEG, decoded here (:meth:`_read_frame`)
        self.stats = DecodeStats()
        self._stop = threading.Event()
        self.warn = on_warning or (lambda m: log.warning(m))
        self._down = False  #: the last read failed and no frame has come since (the camera is lost or stalled)
        self._gone_since: float | None = None  #: the camera is gone: the time of its last frame (``stats.offline``)
        self._arrivals: deque[float] = deque(maxlen=RATE_FRAMES)  #: when its latest frames came (:meth:`rate_seen`)
        self._first_arrival = float("inf")  #: when its first frame came
        self._cap = _interruptible(self._open)
        ok, first = _interruptible(self._first_frame)
        if not ok:
            self._cap.release()
            wait = f" within {READ_TIMEOUT_S:g} s" if _is_url(str(self.spec)) else ""
            raise SourceError(f"camera {self.spec} opened but delivered no frame{wait}")
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
        if isinstance(self.spec, str) and os.path.isfile(self.spec):
            # read as fast as it decodes, then "lost" and reopened five times: exit 3 after 3 s
            raise SourceError(
                f"{self.spec} is a video file, not a camera: `streamdeblur run {self.spec}` deblurs it "
                f"(to try the live path, serve it as a camera: python -m streamdeblur.bench.serve {self.spec})"
            )
        if isinstance(self.spec, int) and os.path.isdir("/dev") and sys.platform.startswith("linux"):
            if not os.path.exists(f"/dev/video{self.spec}"):
                raise SourceError(f"camera not found: {self.spec} (there is no /dev/video{self.spec})")
        t_open = time.monotonic()
        cap = self._capture()
        if not cap.isOpened():
            why = None
            if isinstance(self.spec, str) and _is_url(self.spec):
                timed_out = time.monotonic() - t_open >= 0.9 * OPEN_TIMEOUT_S
                why = why_unreachable(self.spec, waited=time.monotonic() - t_open) or (
                    f"no picture came within {OPEN_TIMEOUT_S:g} s" if timed_out else "not a video stream FFmpeg can read"
                )
            raise SourceError(f"cannot open camera {self.spec}" + (f": {why}" if why else ""))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def _capture(self) -> cv2.VideoCapture:
        """A new capture of the camera (:func:`_capture`); an MJPEG stream's hands over each frame's JPEG."""
        cap = _capture(self.spec)
        self._jpeg = _jpeg_passthrough(cap)
        return cap

    def _first_frame(self) -> tuple[bool, np.ndarray | None]:
        """The first good frame (corrupt ones before it skipped, at most a few)."""
        with quiet_opencv():  # a stalled stream's read: OpenCV's "Stream timeout triggered" (we say it)
            for _ in range(8):
                ok, bgr = self._read_frame()
                if not ok or bgr is not None:
                    return ok, bgr
        return False, None

    def _read_frame(self) -> tuple[bool, np.ndarray | None]:
        """``(ok, BGR image)``; ``(True, None)`` for a corrupt frame of an MJPEG stream, skipped and counted.

        OpenCV hands over a JPEG cut short in transit (Wi-Fi, a camera's overloaded server) as a good
        frame, its lower part grey or green: a recording kept such frames without a word and
        ``--strict`` changed nothing. An MJPEG stream's JPEGs are therefore taken as they came and
        decoded here, each checked for its end-of-image marker first (:func:`~..photo_meta.jpeg_state`), as
        photos are; ``--strict`` stops at the first corrupt one.
        """
        ok, data = self._cap.read()  # inside quiet_opencv (the grabber's whole run)
        if not ok or not self._jpeg:
            return ok, data
        state = jpeg_state(data.tobytes())
        img = cv2.imdecode(data.reshape(-1), cv2.IMREAD_COLOR) if state == "complete" else None
        if img is None:
            self.stats.skipped_packets += 1
            if self.strict:
                raise SourceError(f"camera {self.spec}: a corrupt JPEG frame (--strict stops at the first)")
            if self.stats.skipped_packets == 1:
                why = CORRUPT_JPEG.get(state, "its data do not decode")
                self.warn(f"camera {self.spec}: a corrupt JPEG frame skipped ({why}); such frames are counted")
        return True, img

    def rate_seen(self, wait: float = 2.0) -> Fraction | None:
        """The camera's frame rate as its frames arrive: how many came in the last :data:`RATE_SPAN_S` (not
        within :data:`BURST_S` of the first frame), a common rate where within 3 % of one; waiting up to
        ``wait`` s for that span; None with fewer than four frames in it.

        What OpenCV reports is the driver's setting or, for a stream URL, FFmpeg's guess: 25 fps for any
        MJPEG-over-HTTP camera, which a Matroska recording of a 30 fps camera then declared. The median
        interval of twelve frames was no better: frames handed over a few at once (a busy machine, a server's
        buffer) made a 30 fps camera "1919 fps", an AVI of thousands of empty frames. Counted over a span
        whose ends are not arrivals, bunching comes out even: frames per second is what the camera sends.
        """
        deadline = time.monotonic() + wait
        while self._grabber.is_alive() and time.monotonic() < deadline:
            if time.monotonic() - (self._first_arrival + BURST_S) >= RATE_SPAN_S:
                break
            time.sleep(0.02)
        now = time.monotonic()
        start = max(now - RATE_SPAN_S, self._first_arrival + BURST_S)
        count = sum(1 for t in list(self._arrivals) if start <= t < now)
        if count < 4 or now - start < RATE_SPAN_S / 2:
            return None
        return nice_rate(count / (now - start))

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the grabber; it releases the camera itself once its current read returns.

        Releasing the capture from here while the grabber is inside ``read()`` crashes OpenCV's
        FFmpeg backend, so the grabber owns the capture until it ends. A live camera's read returns
        within a frame interval; a stalled one's only at :data:`READ_TIMEOUT_S` (a reopen: at
        :data:`OPEN_TIMEOUT_S`), which nobody waits for: the grabber releases the capture when it returns.
        """
        self._stop.set()
        self._grabber.join(timeout=0.5)

    def frames(self) -> Iterator[Frame]:
        """The newest frame each time one is asked for; pts and index count from the first one delivered."""
        self.stats.dropped = 0  # frames replaced before anyone asked were not dropped by the pipeline
        first: Frame | None = None
        for f in self._drain(self._slot):
            first = first or f
            yield replace(f, index=f.index - first.index, pts=f.pts - first.pts)
        gone = self._gone_since
        if gone is not None:  # the session ended with the camera gone: that time is dead time too
            self.stats.offline += time.monotonic() - gone
        if self._down and self._stop.is_set() and self.stats.lost_why is None:
            # the session ended (``--duration``, Ctrl-C) while the camera was gone or stalled, the grabber
            # still inside a reopen or a read: a recording cut short (exit 3), not a finished one
            self.warn(f"camera {self.spec} still lost when the session ended")
            self.stats.lost = self.stats.lost_at_end = True

    def _grab(self, put: Callable[[Frame], None]) -> None:
        # OpenCV's log off for the whole run, not toggled around every read (a stalled stream's timeout,
        # a damaged JPEG and a reopen each print their own lines; we say what happened)
        try:
            with quiet_opencv():
                self._grab_frames(put)
        finally:
            self._cap.release()

    def _grab_frames(self, put: Callable[[Frame], None]) -> None:
        t0 = self._t0
        index, attempts, pending = 0, 0, self._first
        #: good reads since the last reopen: one is not a recovery (a hung camera's server answers each new
        #: connection with its last picture, then nothing: "back" each time, the attempts never ran out)
        since_reopen = RECOVERED_AFTER
        since_open = 0  #: frames since the capture was (re)opened: a snapshot URL gives one each time
        gap = 0.0  #: how long the camera was gone, the last time it was
        last = self._t0  #: when the last frame came
        while not self._stop.is_set():
            if pending is None:
                t_read = time.monotonic()
                ok, bgr = self._read_frame()
                if ok and bgr is None:
                    continue  # a corrupt frame: skipped (counted), the stream goes on
                if not ok:
                    self._down = True
                    if self._gone_since is None:
                        self._gone_since = last
                    if self._stop.is_set():
                        return
                    if since_open == 1 and attempts == 0 and serves_one_picture(str(self.spec)):
                        # one JPEG per request: OpenCV reads it as a one-frame stream, "lost" after each
                        self.stats.lost_why = (
                            f"{self.spec} serves one picture per request (a snapshot), not a video stream: "
                            "give the camera's MJPEG or RTSP stream address"
                        )
                        self.stats.lost = True
                        return
                    attempts += 1
                    stalled = time.monotonic() - t_read >= 0.9 * READ_TIMEOUT_S and _is_url(str(self.spec))
                    what = f"stalled (no frame for {READ_TIMEOUT_S:g} s)" if stalled else "lost"
                    if attempts > self.reconnect:
                        self.warn(f"camera {self.spec} {what}; no reconnection after {self.reconnect} attempts")
                        self.stats.lost = True
                        return
                    # the first reopen at once: one malformed part of an MJPEG stream (a zero-length part,
                    # bytes between boundaries) breaks OpenCV's read as a lost camera does, and a camera
                    # that sent such a part every half second spent the session in backoff
                    delay = 0.0 if attempts == 1 else min(8.0, 0.5 * 2 ** (attempts - 2))
                    when = "now" if delay == 0 else f"in {delay:.1f}s"
                    self.warn(f"camera {self.spec} {what}; reconnecting {when} ({attempts}/{self.reconnect})")
                    self.stats.reconnects += 1
                    if self._stop.wait(delay):
                        return  # the session ended with the camera still gone: frames() says so
                    self._cap.release()
                    self._cap = self._capture()
                    since_reopen = since_open = 0
                    continue
            else:
                bgr, pending = pending, None
            since_reopen += 1
            since_open += 1
            now = last = time.monotonic()
            if self._gone_since is not None:  # back: the time without it is not counted in its rate
                self._arrivals.clear()
                gap = now - self._gone_since
                self.stats.offline += gap
                self._gone_since = None
            if not self._arrivals:
                self._first_arrival = now
            self._arrivals.append(now)
            if since_reopen >= RECOVERED_AFTER:
                if attempts:  # "lost; reconnecting" was said, and nothing when it came back
                    self.warn(f"camera {self.spec} back ({gap:.1f} s without it)")
                attempts, self._down = 0, False
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
    """``cv2.VideoCapture(spec)`` without OpenCV's own log lines (a camera that cannot be opened made each
    backend it tried, V4L2, FFmpeg, Orbbec, print warnings before our one-line error); a URL through
    FFmpeg with :data:`OPEN_TIMEOUT_S` and :data:`READ_TIMEOUT_S`.

    OpenCV's bundled FFmpeg prints its own errors to stderr (we report failures ourselves, in one line):
    quieted by ``OPENCV_FFMPEG_LOGLEVEL``, which OpenCV reads when its FFmpeg backend first opens. It is
    set here, when a camera is opened, not when the package is imported: a program that only imported
    streamdeblur lost the log of its own ``cv2.VideoCapture`` (a host's explicit value is kept)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    with quiet_opencv():
        if isinstance(spec, str) and _is_url(spec):
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000)]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000)]
            return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, timeouts)
        return cv2.VideoCapture(spec)


def _jpeg_passthrough(cap: cv2.VideoCapture) -> bool:
    """Ask an MJPEG stream's capture (OpenCV's FFmpeg backend) for each frame's JPEG instead of its pixels."""
    if not cap.isOpened() or cap.getBackendName() != "FFMPEG":
        return False
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    return fourcc == b"MJPG" and bool(cap.set(cv2.CAP_PROP_FORMAT, -1))


def _interruptible(call: Callable):
    """``call()`` on a helper thread, waited for in short steps: a blocking OpenCV call (opening a URL that
    does not answer) no longer holds Ctrl-C and SIGTERM back, whose handlers run only between bytecodes
    of the main thread. On an interrupt the helper is left to finish on its own (a daemon thread)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=run, name="camera-open", daemon=True)
    t.start()
    while t.is_alive():
        t.join(0.1)
    if "error" in box:
        raise box["error"]
    return box["value"]


def serves_one_picture(url: str, timeout: float = 3.0) -> bool:
    """Whether an HTTP camera URL answers with one picture (``Content-Type: image/…``, a "snapshot"
    address) rather than a stream (``multipart/x-mixed-replace`` for MJPEG). False for other schemes
    and whenever the question cannot be answered.

    Many IP cameras serve both, on different paths: through OpenCV a snapshot address looks like a
    camera that sends one frame and is lost, over and over.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        return False
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            conn.request("GET", path)
            ctype = conn.getresponse().getheader("Content-Type") or ""
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return False
    return ctype.strip().lower().startswith("image/")


def why_unreachable(url: str, timeout: float = 3.0, waited: float = 0.0) -> str | None:
    """Why a camera URL could not be opened, found by trying it the way a browser would: unknown
    scheme or host, connection refused, no answer, an HTTP error, or something that is not a video
    stream. None when nothing is wrong that way (the stream itself is not one FFmpeg can read).

    OpenCV gives no reason, so every failure read "cannot open camera URL": a wrong path, a camera
    that is off and a typo in the host looked the same. Only asked after OpenCV failed: many IP
    cameras serve one client at a time. ``waited``: seconds OpenCV already waited for the same URL,
    counted in a "sent nothing within N s" (said after 13 s as "within 3 s").

    Example:
        >>> why_unreachable("htp://127.0.0.1/cam")
        "unknown scheme 'htp' (use one of http, https, tcp, udp, rtsp, rtmp, srt)"
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in LIVE_SCHEMES:
        return f"unknown scheme {scheme!r} (use one of {', '.join(LIVE_SCHEMES)})"
    if scheme not in ("http", "tcp", "rtsp", "rtmp"):
        return None  # UDP has no connection to try; TLS and SRT need more than a socket
    host = parts.hostname
    try:
        port = parts.port or {"http": 80, "rtsp": 554, "rtmp": 1935}.get(scheme)
    except ValueError:
        return f"bad port in {url}"
    if port is None:
        return f"no port in {url} (tcp:// needs one)"
    if not host:
        return f"no host in {url}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        return f"unknown host {host}"
    except ConnectionRefusedError:
        return f"{host}:{port} refused the connection (nothing is listening there)"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    with sock:
        if scheme != "http":
            return None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        except TimeoutError:
            return f"{host}:{port} accepted the connection but sent nothing within {timeout + waited:.3g} s"
        except OSError as exc:
            return f"{host}:{port}: {exc.strerror or exc}"
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith("HTTP/"):
        what = "did not answer as an HTTP server" if head else "closed the connection without an answer"
        return f"{host}:{port} {what}"
    if status[1] != "200":
        return f"the server answered HTTP {' '.join(status[1:])}"
    ctype = next((ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("content-type:")), "")
    if ctype and not ctype.lower().startswith(("multipart/", "image/", "video/", "application/octet-stream")):
        return f"the server sent {ctype.split(';')[0]}, not a video stream"
    return None
