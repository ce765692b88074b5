"""``streamdeblur bench --what live``: live correction measured as a user would meet it.

A clip is served as a paced 30 fps MJPEG-over-HTTP stream on 127.0.0.1 (what many IP cameras and
phone webcam apps send) and ``streamdeblur webcam``'s pipeline reads it through the same camera
source, stages and encoder as the command, recording to a temporary file. Reported per clip:

* **delivered fps**: frames handed to the encoder per second, first to last;
* **latency** median and 95th percentile: capture (the camera source's read) → hand-over to the
  encoder (:mod:`streamdeblur.engine.latency`), all queues and stages included;
* **drops**: camera frames replaced by newer ones because the pipeline was busy (never queued);
* **quality**: each recorded frame is matched to the clip frame it shows (by its capture time
  against the server's send times, refined to the nearest blurry frame within ±2), and its PSNR
  against the clip's sharp reference is compared with the PSNR of the stream's own (JPEG-decoded)
  frame: mean gain and the worst single frame. Dropped frames are skipped.

The stream shows the clip's first frame (a still camera) until the pipeline has delivered its
first frame — model loading and the internal-resolution measurement happen before the clip
plays — then plays the clip once at 30 fps and ends.

Clips: ``--clips DIR`` with ``<name>.blurry.mp4`` + ``<name>.sharp.mkv`` pairs
(``python -m streamdeblur.train.devset --out DIR --size 640x360``); without it, a synthetic shaky
texture (no ground truth beyond its own sharp frames).
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from ..engine.build import Job, build
from ..engine.config import apply_overrides, load_pipeline
from ..engine.latency import LatencyMeter, LatencyStats
from ..io.sinks import TeeSink
from ..train.video_metrics import psnr_frames

JPEG_QUALITY = 92


class MJPEGBroadcast:
    """``/stream.mjpg`` on 127.0.0.1 (multipart/x-mixed-replace): every client gets each JPEG
    :meth:`publish`-ed after it connected, once; a slow client misses frames, like a camera's.
    :meth:`end` finishes every stream (clients see the camera go away).

    Args:
        port: the port (0: a free one).
    """

    def __init__(self, port: int = 0) -> None:
        self._cond = threading.Condition()
        self._ended = threading.Event()
        self._seq, self._data = 0, b""
        bc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                last = -1
                try:
                    while not bc._ended.is_set():
                        with bc._cond:
                            bc._cond.wait_for(lambda seen=last: bc._seq != seen or bc._ended.is_set(), timeout=1)
                            seq, data = bc._seq, bc._data
                        if seq == last or not data:
                            continue
                        last = seq
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data))
                        self.wfile.write(data + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, jpeg: bytes) -> None:
        """Make ``jpeg`` the newest frame (sent to every connected client)."""
        with self._cond:
            self._seq += 1
            self._data = jpeg
            self._cond.notify_all()

    def end(self) -> None:
        """Finish every client's stream."""
        self._ended.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self.end()
        self.httpd.shutdown()
        self.httpd.server_close()


class ClipStreamServer:
    """Serves ``frames`` (RGB) as ``/stream.mjpg`` at ``fps`` on 127.0.0.1 (:class:`MJPEGBroadcast`).

    Frame 0 is repeated until :meth:`play` is called; then every frame is sent once, paced by the
    clock (a frame is never late because a client was slow: a slow client misses frames, like a
    camera), and the stream ends (``loop``: the clip repeats until :meth:`close`). ``sent`` holds
    ``(monotonic send time, clip index)`` of every new clip frame.
    """

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0, loop: bool = False, port: int = 0) -> None:
        self.fps, self.loop = fps, loop
        self.jpegs = [cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes() for f in frames]
        self.sent: list[tuple[float, int]] = []
        self.finished = threading.Event()
        self._play = threading.Event()
        self._stop = threading.Event()
        self._broadcast = MJPEGBroadcast(port)
        self.url = self._broadcast.url
        threading.Thread(target=self._produce, daemon=True).start()

    @property
    def playing(self) -> bool:
        return self._play.is_set()

    def play(self) -> None:
        """Start the clip (frame 0 again, then the rest at ``fps``)."""
        self._play.set()

    def _produce(self) -> None:
        tick = 0
        t0 = time.monotonic()
        while not self._stop.is_set() and not self._play.is_set():  # a still camera until asked
            self._broadcast.publish(self.jpegs[0])
            tick += 1
            self._play.wait(max(0.0, t0 + tick / self.fps - time.monotonic()))
        t0 = time.monotonic()
        n = len(self.jpegs)
        i = 0
        while i < n or self.loop:
            if self._stop.wait(max(0.0, t0 + i / self.fps - time.monotonic())):
                return
            if not self.loop:
                self.sent.append((time.monotonic(), i))
            self._broadcast.publish(self.jpegs[i % n])
            i += 1
        self._stop.wait(1.0 / self.fps)
        self.finished.set()
        self._broadcast.end()  # the clip's end ends the stream

    def close(self) -> None:
        self._stop.set()
        self._broadcast.close()


class CollectSink:
    """Keeps what is handed over: (capture time, hand-over time, RGB image) of every frame."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.rows: list[tuple[float, float, np.ndarray]] = []

    def write(self, frame) -> None:
        now = time.monotonic()
        img = frame.image if frame.image.dtype == np.uint8 else (frame.image >> 8).astype(np.uint8)
        self.rows.append((frame.captured, now, img))
        self.frames_written += 1

    def close(self, complete: bool = True):
        return None


def decode_like_camera(jpegs: list[bytes]) -> list[np.ndarray]:
    """The JPEGs decoded as the camera source decodes an MJPEG stream (``cv2.imdecode``, after checking
    each is complete: :meth:`streamdeblur.io.sources.CameraSource._read_frame`; OpenCV's FFmpeg MJPEG
    decoder, used before, differs by ~0.7 grey levels on average): the input baseline must be exactly
    what the pipeline received."""
    out = []
    for data in jpegs:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RuntimeError("cannot decode the served MJPEG frames with OpenCV")
        out.append(np.ascontiguousarray(bgr[..., ::-1]))
    return out


def _small(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA).astype(np.float32)


def match_frames(
    rows: list[tuple[float, np.ndarray]], sent: list[tuple[float, int]], inputs: list[np.ndarray]
) -> list[int | None]:
    """The clip index each recorded frame shows (None before the clip started).

    The newest clip frame sent before the capture time is the candidate; the blurry input within ±2
    of it that is closest to the recorded frame wins (a busy grabber may read a frame late).
    """
    if not sent:
        return [None] * len(rows)
    times = np.array([t for t, _ in sent])
    small_in = [_small(f) for f in inputs]
    out: list[int | None] = []
    for captured, img in rows:
        k = int(np.searchsorted(times, captured, side="right")) - 1
        if k < 0:
            out.append(None)
            continue
        s = _small(img)
        cands = range(max(0, k - 2), min(len(inputs), k + 3))
        out.append(min(cands, key=lambda j: float(np.mean((small_in[j] - s) ** 2))))
    return out


@dataclass
class LiveResult:
    """One clip through the live pipeline."""

    clip: str
    size: tuple[int, int]
    frames_in_clip: int
    recorded: int  #: clip frames recorded (each counted once)
    dropped: int
    stats: LatencyStats
    psnr_in: float | None = None
    psnr_out: float | None = None
    gain: float | None = None
    worst: float | None = None
    said: list[str] = field(default_factory=list)
    busy_ms: dict[str, float] = field(default_factory=dict)  #: busy milliseconds per delivered frame, per part


def run_live_clip(
    name: str, blurry: list[np.ndarray], sharp: list[np.ndarray], pipeline: str = "webcam", overrides: dict | None = None
) -> LiveResult:
    """Serve ``blurry`` as a live stream, run ``pipeline`` on it, and measure (see the module docstring).

    Args:
        name: the clip's name (for the report).
        blurry: the clip's frames (RGB uint8), served as the camera.
        sharp: its sharp reference (same count), or ``[]``.
        pipeline: a shipped pipeline name or a YAML path.
        overrides: as :func:`~streamdeblur.engine.config.apply_overrides` takes them.

    Returns:
        A :class:`LiveResult` over the clip's frames (the still camera before it is not counted).
    """
    server = ClipStreamServer(blurry)
    inputs = decode_like_camera(server.jpegs)
    said: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="sdb-live-") as tmp:
            cfg = apply_overrides(load_pipeline(pipeline), **(overrides or {}))
            cfg.preview = False
            job = Job(server.url, str(Path(tmp) / "rec.mp4"), cfg, overwrite=True, camera=True, reconnect=0)
            warnings: list[str] = []  # the stream ending is expected: the camera source says it was lost
            pipe = build(job, warn=warnings.append, say=said.append)
            collect = CollectSink()
            pipe.sink = TeeSink(collect, pipe.sink)  # the hand-over moment, before the encoder's work

            def on_progress(p) -> None:
                if p.done and not server.playing:
                    server.play()
                if server.finished.is_set():
                    pipe.request_stop()

            result = pipe.run(on_progress, interval=0.02)
            if result.error:
                raise RuntimeError(f"live pipeline failed: {result.error}")
    finally:
        server.close()
    start = server.sent[0][0] if server.sent else float("inf")
    rows = [r for r in collect.rows if r[0] >= start]  # captured once the clip played
    idx = match_frames([(c, img) for c, _, img in rows], server.sent, inputs)
    meter = LatencyMeter()
    seen: dict[int, np.ndarray] = {}
    for (captured, handed, img), k in zip(rows, idx):
        meter.record(handed, handed - captured)
        if k is not None:
            seen.setdefault(k, img)
    res = LiveResult(
        name, (blurry[0].shape[1], blurry[0].shape[0]), len(blurry), len(seen), len(blurry) - len(seen), meter.total()
    )
    res.said = said + [w for w in warnings if " lost" not in w]
    p = result.progress
    res.busy_ms = {k: 1000 * v / max(1, p.done) for k, v in p.busy.items()}
    if sharp and seen:
        ks = sorted(seen)
        ref = [sharp[k] for k in ks]
        pin = psnr_frames([inputs[k] for k in ks], ref)
        pout = psnr_frames([seen[k] for k in ks], ref)
        res.psnr_in, res.psnr_out = float(pin.mean()), float(pout.mean())
        res.gain, res.worst = float((pout - pin).mean()), float((pout - pin).min())
    return res


def _clips(
    folder: str | None, size: str, skipped: list[str] | None = None
) -> list[tuple[str, list[np.ndarray], list[np.ndarray]]]:
    """(name, blurry, sharp) for every pair in ``folder``; without one, a synthetic shaky texture.

    A pair that cannot be read is left out and said in ``skipped`` (one line each): one damaged clip
    ended the whole benchmark with a raw "[Errno 1094995529] Invalid data …"."""
    if folder:
        from ..errors import SourceError
        from ..train.video_eval import find_clips, read_pair

        pairs = find_clips(folder)
        if not pairs:
            raise ValueError(f"no <name>.blurry.mp4 + <name>.sharp.mkv pairs in {folder}")
        found = []
        for p in pairs:
            try:
                found.append((p.name, *read_pair(p)))
            except SourceError as exc:
                if skipped is None:
                    raise
                skipped.append(f"{p.name}: {exc}")
        return found
    from .temporal import shaky_frames

    w, h = (int(v) for v in size.lower().split("x"))
    frames = [f.image for f in shaky_frames(w, h, 90)]
    return [("synthetic", frames, [])]
