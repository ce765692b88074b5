"""Live test sources on 127.0.0.1: an MJPEG-over-HTTP server whose frames carry their sequence number."""

from __future__ import annotations

import socket
import threading
import time

import cv2
import numpy as np

from streamdeblur.bench.live import MJPEGBroadcast

BITS = 16
CELL = 16


def stamp(seq: int, w: int = 320, h: int = 240) -> np.ndarray:
    """An RGB frame whose top row of ``CELL``-px squares spells ``seq`` in binary (JPEG-proof)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, 90)], -1).astype(np.uint8)
    for b in range(BITS):
        on = (seq >> b) & 1
        img[0:CELL, b * CELL : (b + 1) * CELL] = 255 if on else 0
    return img


def read_stamp(img: np.ndarray) -> int:
    """Inverse of :func:`stamp` (works on decoded, re-compressed frames)."""
    seq = 0
    for b in range(BITS):
        cell = img[2 : CELL - 2, b * CELL + 2 : (b + 1) * CELL - 2]
        if cell.mean() > 127:
            seq |= 1 << b
    return seq


class MJPEGServer:
    """Serves ``/stream.mjpg`` at ``fps`` through the product's :class:`MJPEGBroadcast`; ``current``
    is the newest seq, ``sent_at`` when each was published. Bounded: after ``max_seconds`` the
    server goes away (streams end, connections are refused).
    """

    def __init__(
        self,
        fps: float = 30.0,
        size: tuple[int, int] = (320, 240),
        max_seconds: float = 60.0,
        port: int = 0,
        content=None,
        damage=None,
    ) -> None:
        self.fps, self.size, self.max_seconds = fps, size, max_seconds
        self.content = content or stamp  #: ``content(seq, w, h)`` → RGB uint8 frame
        self.damage = damage  #: ``damage(seq, jpeg)`` → the bytes sent (a JPEG cut short in transit)
        self.current = -1
        self.sent_at: dict[int, float] = {}  #: seq → monotonic time it was published
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._frozen = threading.Event()
        self._broadcast = MJPEGBroadcast(port)
        self.port = self._broadcast.port
        threading.Thread(target=self._produce, daemon=True).start()

    @property
    def url(self) -> str:
        return self._broadcast.url

    def _produce(self) -> None:
        seq = 0
        t0 = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - t0 < self.max_seconds:
            ok, buf = cv2.imencode(".jpg", self.content(seq, *self.size)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            if self._frozen.is_set():  # a hung camera: connections stay open, nothing more is sent
                time.sleep(1 / self.fps)
                continue
            self.current = seq
            self.sent_at[seq] = time.monotonic()
            data = buf.tobytes()
            self._broadcast.publish(self.damage(seq, data) if self.damage else data)
            seq += 1
            time.sleep(max(0.0, t0 + seq / self.fps - time.monotonic()))
        self._stop.set()
        self._broadcast.close()  # gone: streams end and new connections are refused, like an unplugged camera

    def freeze(self) -> None:
        """Stop sending frames but keep every connection open and accept new ones (a hung camera)."""
        self._frozen.set()

    def close(self) -> None:
        self._stop.set()
        self._broadcast.close()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; ``connected`` is set at the first."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.connected.set()

    def close(self) -> None:
        self._sock.close()
        for c in self._held:
            c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmptyPartServer:
    """An MJPEG-over-HTTP camera at ``fps`` whose every ``every``-th part on each connection is empty
    (``Content-Length: 0``), as some cameras' servers send when a frame is not ready; ``connections``
    counts the connections it took. Bounded by ``max_seconds``."""

    def __init__(self, fps: float = 10.0, every: int = 5, max_seconds: float = 60.0, group: int = 1) -> None:
        """``every`` 0: no empty parts; ``group``: parts sent ``group`` at a time, at ``fps`` on average (a busy
        machine or network handing over frames bunched)."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        ok, jpeg = cv2.imencode(".jpg", stamp(0, 160, 120)[..., ::-1])
        data, started, srv = jpeg.tobytes(), time.monotonic(), self
        self.connections = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i, t0 = 0, time.monotonic()
                try:
                    while time.monotonic() - started < max_seconds:
                        part = b"" if every and i % every == every - 1 else data
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(part))
                        self.wfile.write(part + b"\r\n")
                        self.wfile.flush()
                        i += 1
                        if i % group == 0:
                            time.sleep(max(0.0, t0 + i / fps - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
