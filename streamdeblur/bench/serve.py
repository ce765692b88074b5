"""Serve a video file as a live camera: a looping, paced 30 fps MJPEG stream on 127.0.0.1.

For trying ``streamdeblur webcam`` without a camera, and for measuring it::

    python -m streamdeblur.bench.serve shaky.mp4 --port 8090 &
    streamdeblur webcam --camera http://127.0.0.1:8090/stream.mjpg --preview
"""

from __future__ import annotations

import argparse
import sys
import threading

from ..train.video_metrics import read_frames
from .live import ClipStreamServer


def serve(argv: list[str] | None = None) -> int:
    """``python -m streamdeblur.bench.serve CLIP [--port N]``: serve a video file as a looping paced
    30 fps MJPEG camera on 127.0.0.1 (try ``streamdeblur webcam`` without a camera) until Ctrl-C."""

    ap = argparse.ArgumentParser(prog="python -m streamdeblur.bench.serve", description=serve.__doc__.split(":")[0])
    ap.add_argument("clip", help="a video file (or a folder of PNGs) to serve")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--fps", type=float, default=30.0)
    a = ap.parse_args(argv)
    try:
        frames = read_frames(a.clip)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {a.clip}: {exc}", file=sys.stderr)
        return 2
    server = ClipStreamServer(frames, a.fps, loop=True, port=a.port)
    server.play()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
