"""A frame of the live preview window with its overlay, for the README (samples/figures/live_preview.png).

What it does, all on 127.0.0.1 and a virtual display (no camera, no screen needed):

1. starts ``Xvfb`` (no window manager: the preview window sits at the top-left corner, without
   decorations);
2. serves ``samples/shaky_boats.mp4`` as a looping 30 fps MJPEG camera (``python -m
   streamdeblur.bench.serve``);
3. runs ``streamdeblur webcam --camera URL --preview`` with the shipped ``webcam`` pipeline on that
   display;
4. once the progress line has reported ``--settle`` seconds of delivered frames (the overlay's
   numbers cover the last five seconds), grabs the screen with ffmpeg's ``x11grab`` (no mouse
   pointer) and writes the part the window covers (the screen's black background cropped off).

The numbers in the picture are whatever this machine measured at that moment; say which CPU it was
when you use the figure.

Run from the repository root (needs ``Xvfb`` and ``ffmpeg``: ``make system-deps``)::

    python samples/make_live_preview.py --out samples/figures/live_preview.png
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from streamdeblur.bench.display import virtual_display

SCREEN = (800, 480)  #: larger than the window: the grab is cropped to what the window covers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", default="samples/shaky_boats.mp4", help="the video served as the camera")
    ap.add_argument("--pipeline", default="webcam", help="the live pipeline (default: the shipped one)")
    ap.add_argument("--settle", type=float, default=8.0, help="seconds of delivered frames before the grab")
    ap.add_argument("--out", type=Path, default=Path("samples/figures/live_preview.png"))
    a = ap.parse_args(argv)
    for tool in ("Xvfb", "ffmpeg"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is needed (make system-deps)", file=sys.stderr)
            return 2
    with virtual_display(SCREEN) as display:
        return grab_preview(a, display)


def grab_preview(a: argparse.Namespace, display: str) -> int:
    """Run the live command on ``display`` and grab its window once the numbers have settled."""
    server = subprocess.Popen([sys.executable, "-m", "streamdeblur.bench.serve", a.clip], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()  # printed once the stream is up
    env = {**os.environ, "DISPLAY": display}
    cmd = [sys.executable, "-m", "streamdeblur", "webcam", "--camera", url, "--preview"]
    cmd += ["--pipeline", a.pipeline, "--duration", str(a.settle + 120), "--progress-interval", "1"]
    live = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    settled = threading.Event()
    lines: list[str] = []

    def follow() -> None:  # the progress line says when frames are being delivered
        t0 = None
        for line in live.stderr:
            lines.append(line.rstrip())
            if re.search(r"delivering [0-9.]+ fps", line):
                t0 = t0 or time.monotonic()
                if time.monotonic() - t0 >= a.settle:
                    settled.set()

    threading.Thread(target=follow, daemon=True).start()
    try:
        if not settled.wait(a.settle + 180):
            print("error: the preview did not deliver frames:\n" + "\n".join(lines[-10:]), file=sys.stderr)
            return 1
        grab = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "x11grab", "-draw_mouse", "0", "-video_size", f"{SCREEN[0]}x{SCREEN[1]}"]
            + ["-i", display, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
            capture_output=True,
            timeout=60,
        )
        if grab.returncode:
            print(f"error: screen grab failed: {grab.stderr.decode().strip()}", file=sys.stderr)
            return 1
        shot = np.frombuffer(grab.stdout, np.uint8).reshape(SCREEN[1], SCREEN[0], 3)
        ys, xs = np.nonzero(shot.max(-1) > 0)  # the window; the root window is black
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_name(a.out.stem + ".part.png")
        cv2.imwrite(str(tmp), shot[: ys.max() + 1, : xs.max() + 1])
        tmp.replace(a.out)
        print(f"wrote {a.out}; the live command's last lines:")
        print("\n".join(lines[-3:]))
        return 0
    finally:
        live.terminate()
        server.terminate()
        for p in (live, server):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    raise SystemExit(main())
