"""The preview window's own process: reads BGR frames on stdin, shows them, reports ``q``/Esc on stdout.

Run by path (``python preview_window.py``), never imported by the package: this process must not
load PyAV. PyAV's wheel bundles copies of ``libxcb-shm``/``libxcb-shape``/``libxcb-xfixes`` whose
SONAMEs are identical to the copies bundled with opencv-python; once PyAV is loaded, OpenCV's Qt
xcb plugin binds to PyAV's copies (linked to PyAV's own ``libxcb``) while it talks to the X server
through the system ``libxcb``, and the window never appears (or ``cv2.imshow`` hangs).

Protocol on stdin: per frame a 12-byte header (height, width, channels as little-endian uint32)
then ``height*width*channels`` bytes. End of stdin closes the window.
"""

from __future__ import annotations

import struct
import sys
import threading

import cv2
import numpy as np

HEADER = struct.Struct("<III")


def _read_exact(stream, n: int) -> bytes | None:
    """``n`` bytes from ``stream``, or None at end of stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def main(title: str) -> int:
    """Show frames from stdin until it ends; writes ``q`` on stdout when the user asks to stop.

    Args:
        title: the window title.

    Returns:
        The exit status (0).
    """
    cond = threading.Condition()
    state: dict = {"frame": None, "eof": False}

    def reader() -> None:
        stdin = sys.stdin.buffer
        while True:
            head = _read_exact(stdin, HEADER.size)
            data = None if head is None else _read_exact(stdin, int(np.prod(HEADER.unpack(head))))
            with cond:
                if data is None:
                    state["eof"] = True
                else:
                    h, w, c = HEADER.unpack(head)
                    state["frame"] = np.frombuffer(data, np.uint8).reshape(h, w, c)
                cond.notify()
            if data is None:
                return

    threading.Thread(target=reader, daemon=True).start()
    cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)  # no toolbar: the picture only
    while True:  # all GUI calls on this (main) thread
        with cond:
            cond.wait_for(lambda: state["frame"] is not None or state["eof"], timeout=0.02)
            img, state["frame"] = state["frame"], None
            eof = state["eof"]
        if img is not None:
            cv2.imshow(title, img)
        if (cv2.waitKey(1) & 0xFF) in (ord("q"), 27):
            sys.stdout.write("q\n")
            sys.stdout.flush()
        if eof:
            break
    cv2.destroyAllWindows()
    cv2.waitKey(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "streamdeblur"))
